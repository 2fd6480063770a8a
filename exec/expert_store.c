#include "exec/expert_store.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "offload/copy_engine.h"

struct expert_store {
    expert_mover mv;
    expert_store_config c;
    int64_t n_blocks;       /* slots, then scratch buffers */
    char *blocks;           /* [n_blocks][expert_bytes], the mover's memory */
    int64_t *slot_of;       /* [key] its slot, or -1 */
    int64_t *free_slots, n_free, used;
    /* [block] the epoch it was last computed from (-1: never since a
     * fence): the current epoch means a device may still be reading it */
    int64_t *used_epoch;
    int64_t epoch;
    copy_engine *ce;        /* the copies not finished, in the simulator's order */
    int failed;
    promoe_err copy_err;
    expert_store_stats stats;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t posted, progressed;
    /* a measurement's copy, served before any queued one */
    const void *raw_src;
    void *raw_dst;
    size_t raw_bytes;
    int raw_pending, stop;
};

static size_t chunk_at(const expert_store *s, int c, size_t *bytes)
{
    size_t each = s->mv.expert_bytes / (size_t)s->c.chunks;
    *bytes = c < s->c.chunks - 1 ? each : s->mv.expert_bytes - each * (size_t)(s->c.chunks - 1);
    return each * (size_t)c;
}

/* key's block: its slot, or its layer's scratch buffer for expert key % E. */
static int64_t block_of(const expert_store *s, int key)
{
    return s->slot_of[key] >= 0 ? s->slot_of[key] : s->c.capacity + key % s->c.num_experts;
}

/* Copies bytes with the lock released; records a failure. */
static int copy_unlocked(expert_store *s, void *dst, const void *src, size_t bytes)
{
    promoe_err err = {{0}};
    pthread_mutex_unlock(&s->lock);
    int rc = s->mv.copy(s->mv.ctx, dst, src, bytes, &err);
    pthread_mutex_lock(&s->lock);
    if (rc < 0 && !s->failed) {
        s->failed = 1;
        s->copy_err = err;
    }
    return rc;
}

/* The chunk the copy engine has in flight: copied into key's block (after
 * a fence if a computation may still read it), then the engine moves on. */
static void copy_chunk(expert_store *s, int key)
{
    int64_t block = block_of(s, key);
    if (s->mv.fence && s->used_epoch[block] == s->epoch) {
        s->stats.fences++;
        pthread_mutex_unlock(&s->lock);
        s->mv.fence(s->mv.ctx);
        pthread_mutex_lock(&s->lock);
        s->used_epoch[block] = -1; /* no one computes from it until its copy ends */
    }
    size_t bytes, off = chunk_at(s, copy_engine_chunks_done(s->ce, key), &bytes);
    const char *src = (const char *)s->mv.source(s->mv.ctx, key) + off;
    char *dst = s->blocks + (size_t)block * s->mv.expert_bytes + off;
    double t0 = clock_now_s();
    int rc = copy_unlocked(s, dst, src, bytes);
    s->stats.copy_s += clock_now_s() - t0;
    s->stats.chunks++;
    s->stats.bytes += (double)bytes;
    if (rc < 0)
        return;
    int finished;
    copy_engine_chunk_done(s->ce, &finished); /* the next chunk, if any, is in flight now */
    if (finished >= 0 && s->c.hooks.done)
        s->c.hooks.done(s->c.hooks.ctx, finished);
}

static void *copy_thread(void *arg)
{
    expert_store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        int key = -1;
        while (!s->stop && !s->raw_pending &&
               (s->failed || (key = copy_engine_in_flight(s->ce)) < 0))
            pthread_cond_wait(&s->posted, &s->lock);
        if (s->stop)
            break;
        if (s->raw_pending) {
            copy_unlocked(s, s->raw_dst, s->raw_src, s->raw_bytes);
            s->raw_pending = 0;
        } else {
            copy_chunk(s, key);
        }
        pthread_cond_broadcast(&s->progressed);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void release_all(expert_store *s)
{
    if (s->blocks)
        s->mv.release(s->mv.ctx, s->blocks);
    free(s->slot_of);
    free(s->free_slots);
    free(s->used_epoch);
    copy_engine_free(s->ce);
    free(s);
}

expert_store *expert_store_create(const expert_mover *mv, const expert_store_config *c,
                                  promoe_err *err)
{
    if (c->chunks < 1 || c->chunks > 1024) {
        promoe_err_set(err, "chunks per expert %d must be in [1, 1024]", c->chunks);
        return NULL;
    }
    expert_store *s = calloc(1, sizeof *s);
    if (!s) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    size_t keys = (size_t)c->num_layers * (size_t)c->num_experts;
    s->mv = *mv;
    s->c = *c;
    s->n_blocks = c->capacity + (c->streaming ? c->num_experts : 0);
    s->slot_of = malloc(keys * sizeof *s->slot_of);
    s->free_slots = malloc((size_t)c->capacity * sizeof *s->free_slots);
    s->used_epoch = malloc((size_t)s->n_blocks * sizeof *s->used_epoch);
    /* the copy engine's chunk costs are the simulator's: here time is
     * real, and a chunk counts as 1, so that its estimates count chunks */
    s->ce = copy_engine_create((int)keys, c->chunks, 1, (double)mv->expert_bytes / c->chunks,
                               c->preempt);
    if (!s->slot_of || !s->free_slots || !s->used_epoch || !s->ce) {
        release_all(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    if (c->hooks.start)
        copy_engine_set_start_hook(s->ce, c->hooks.start, c->hooks.ctx);
    if (!(s->blocks = mv->alloc(mv->ctx, (size_t)s->n_blocks * mv->expert_bytes, err))) {
        release_all(s);
        return NULL;
    }
    for (size_t k = 0; k < keys; k++)
        s->slot_of[k] = -1;
    for (int64_t b = 0; b < s->n_blocks; b++)
        s->used_epoch[b] = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->posted, NULL);
    pthread_cond_init(&s->progressed, NULL);
    if (pthread_create(&s->thread, NULL, copy_thread, s) != 0) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->posted);
        pthread_cond_destroy(&s->progressed);
        release_all(s);
        promoe_err_set(err, "cannot start the copy thread");
        return NULL;
    }
    return s;
}

void expert_store_free(expert_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_signal(&s->posted);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->posted);
    pthread_cond_destroy(&s->progressed);
    release_all(s);
}

void expert_store_lock(expert_store *s) { pthread_mutex_lock(&s->lock); }
void expert_store_unlock(expert_store *s) { pthread_mutex_unlock(&s->lock); }

void expert_store_place(expert_store *s, int key, int victim)
{
    int64_t slot;
    if (victim >= 0 && s->slot_of[victim] >= 0) {
        slot = s->slot_of[victim];
        s->slot_of[victim] = -1;
    } else {
        slot = s->n_free ? s->free_slots[--s->n_free] : s->used++;
    }
    s->slot_of[key] = slot;
}

void expert_store_vacate(expert_store *s, int key)
{
    if (s->slot_of[key] < 0)
        return;
    s->free_slots[s->n_free++] = s->slot_of[key];
    s->slot_of[key] = -1;
}

void expert_store_copy(expert_store *s, int key, int priority, int64_t order)
{
    if (copy_engine_submit(s->ce, key, priority, order) >= 0)
        pthread_cond_signal(&s->posted); /* the copy thread was idle */
}

void expert_store_promote(expert_store *s, int key) { copy_engine_promote(s->ce, key); }
int expert_store_drop(expert_store *s, int key) { return copy_engine_drop(s->ce, key); }
int expert_store_in_flight(expert_store *s) { return copy_engine_in_flight(s->ce); }
/* The mean time of a chunk's copy so far (0 before the first). */
static double chunk_s(const expert_store *s)
{
    return s->stats.chunks ? s->stats.copy_s / (double)s->stats.chunks : 0;
}

double expert_store_copy_ahead_s(expert_store *s, int priority, int64_t order)
{
    /* its chunks counted as 1 each, the one in flight ending "at 1" */
    int64_t chunks = copy_engine_estimate_done(s->ce, 0, 1, priority, order);
    return (double)chunks * chunk_s(s);
}

double expert_store_copy_s(expert_store *s) { return (double)s->c.chunks * chunk_s(s); }

int expert_store_chunks_done(expert_store *s, int key)
{
    return copy_engine_chunks_done(s->ce, key);
}

int expert_store_wait(expert_store *s, promoe_err *err)
{
    if (!s->failed) {
        double t0 = clock_now_s();
        pthread_cond_wait(&s->progressed, &s->lock);
        s->stats.wait_s += clock_now_s() - t0;
    }
    if (s->failed) {
        *err = s->copy_err;
        return -1;
    }
    return 0;
}

const void *expert_store_block(expert_store *s, int key)
{
    return s->blocks + (size_t)block_of(s, key) * s->mv.expert_bytes;
}

void expert_store_used(expert_store *s, int key) { s->used_epoch[block_of(s, key)] = s->epoch; }
void expert_store_computed(expert_store *s) { s->epoch++; }

expert_store_stats expert_store_stats_of(expert_store *s)
{
    pthread_mutex_lock(&s->lock);
    expert_store_stats st = s->stats;
    const copy_stats *cs = copy_engine_stats(s->ce);
    st.copies = cs->copies;
    st.preemptions = cs->preemptions;
    st.withdrawn = cs->dropped + cs->withdrawn;
    pthread_mutex_unlock(&s->lock);
    return st;
}

/* Has the copy thread copy bytes from src to dst, and waits for it. */
static int copy_raw(expert_store *s, const void *src, void *dst, size_t bytes, promoe_err *err)
{
    pthread_mutex_lock(&s->lock);
    s->raw_src = src;
    s->raw_dst = dst;
    s->raw_bytes = bytes;
    s->raw_pending = 1;
    pthread_cond_signal(&s->posted);
    while (s->raw_pending)
        pthread_cond_wait(&s->progressed, &s->lock);
    int rc = s->failed ? -1 : 0;
    if (rc < 0)
        *err = s->copy_err;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int expert_store_fill(expert_store *s, promoe_err *err)
{
    size_t keys = (size_t)s->c.num_layers * (size_t)s->c.num_experts;
    for (size_t k = 0; k < keys; k++)
        if (s->slot_of[k] >= 0 &&
            copy_raw(s, s->mv.source(s->mv.ctx, (int)k), (void *)expert_store_block(s, (int)k),
                     s->mv.expert_bytes, err) < 0)
            return -1;
    return 0;
}

double expert_store_time_copy(expert_store *s, size_t bytes, int reps, promoe_err *err)
{
    int E = s->c.num_experts, num_layers = s->c.num_layers;
    size_t layer = (size_t)E * s->mv.expert_bytes;
    if (bytes > layer)
        bytes = layer; /* a layer's experts are the longest run the sources hold */
    reps = reps > 0 ? reps : 1;
    void *dst = s->mv.alloc(s->mv.ctx, bytes, err);
    double *runs = malloc((size_t)reps * sizeof *runs);
    double median = -1;
    if (!dst || !runs) {
        if (dst)
            promoe_err_set(err, "out of memory");
        goto out;
    }
    expert_store_stats kept = s->stats;
    for (int r = 0; r < reps; r++) {
        /* another layer (and place in it) each run, so the source comes
         * from memory as an offloaded expert's does */
        size_t at = (size_t)(r / num_layers) * s->mv.expert_bytes % (layer - bytes + 1);
        const char *src = (const char *)s->mv.source(s->mv.ctx, (r % num_layers) * E) + at;
        double t0 = clock_now_s();
        if (copy_raw(s, src, dst, bytes, err) < 0)
            goto out;
        runs[r] = clock_now_s() - t0;
    }
    s->stats = kept; /* measurements are not the run's copies */
    gsl_sort(runs, 1, (size_t)reps);
    median = gsl_stats_median_from_sorted_data(runs, 1, (size_t)reps);
out:
    if (dst)
        s->mv.release(s->mv.ctx, dst);
    free(runs);
    return median;
}

/* The CPU backend: host memory stands in for the device's. */
static void *cpu_alloc(void *ctx, size_t bytes, promoe_err *err)
{
    (void)ctx;
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        promoe_err_set(err, "out of memory for %zu bytes of expert slots", bytes);
    else /* touched now, as device memory is there: no page faults mid-run */
        memset(p, 0, bytes);
    return p;
}

static void cpu_release(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static const void *cpu_source(void *ctx, int key)
{
    const exec_weights *w = ctx;
    int E = w->model.num_experts;
    return w->layers[key / E].experts + (size_t)(key % E) * exec_expert_floats(&w->model);
}

static int cpu_copy(void *ctx, void *dst, const void *src, size_t bytes, promoe_err *err)
{
    (void)ctx;
    (void)err;
    memcpy(dst, src, bytes);
    return 0;
}

expert_mover expert_mover_cpu(const exec_weights *w)
{
    return (expert_mover){.expert_bytes = exec_expert_floats(&w->model) * sizeof(float),
                          .alloc = cpu_alloc, .release = cpu_release, .source = cpu_source,
                          .copy = cpu_copy, .ctx = (void *)w};
}
