#include "exec/expert_store.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

struct expert_store {
    expert_mover mv;
    int num_keys, chunks, preempt;
    int64_t capacity, used;
    char *slots;            /* [capacity][expert_bytes], the mover's memory */
    int64_t *slot_of;       /* [key] its slot, or -1 */
    int64_t *free_slots, n_free;
    /* a slot's owner may copy into it and compute from it; experts promised
     * the slot next wait in line behind it (next_of), tail last */
    int *owner, *tail;      /* [capacity] */
    int *next_of;           /* [key] */
    int *done;              /* [key] chunks copied */
    copy_queue *queue;      /* the copies not finished, in the simulator's order */
    int last_key;           /* the key the thread copied last */
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
    size_t each = s->mv.expert_bytes / (size_t)s->chunks;
    *bytes = c < s->chunks - 1 ? each : s->mv.expert_bytes - each * (size_t)(s->chunks - 1);
    return each * (size_t)c;
}

/* Only a slot's owner may copy into it. */
static int owns_slot(void *ctx, int key)
{
    const expert_store *s = ctx;
    return s->owner[s->slot_of[key]] == key;
}

static void *copy_thread(void *arg)
{
    expert_store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        int key = -1, preempted = 0;
        while (!s->stop && !s->raw_pending &&
               (s->failed ||
                (key = copy_queue_take(s->queue, s->last_key, owns_slot, s, &preempted)) < 0))
            pthread_cond_wait(&s->posted, &s->lock);
        if (s->stop)
            break;
        promoe_err err = {{0}};
        if (s->raw_pending) {
            const void *src = s->raw_src;
            void *dst = s->raw_dst;
            size_t n = s->raw_bytes;
            pthread_mutex_unlock(&s->lock);
            int rc = s->mv.copy(s->mv.ctx, dst, src, n, &err);
            pthread_mutex_lock(&s->lock);
            if (rc < 0) {
                s->failed = 1;
                s->copy_err = err;
            }
            s->raw_pending = 0;
            pthread_cond_broadcast(&s->progressed);
            continue;
        }
        int64_t slot = s->slot_of[key];
        s->stats.preemptions += preempted; /* a copy left part-done for a demand */
        s->last_key = key;
        size_t bytes, off = chunk_at(s, s->done[key], &bytes);
        const char *src = (const char *)s->mv.source(s->mv.ctx, key) + off;
        char *dst = s->slots + (size_t)slot * s->mv.expert_bytes + off;
        pthread_mutex_unlock(&s->lock);
        double t0 = clock_now_s();
        int rc = s->mv.copy(s->mv.ctx, dst, src, bytes, &err);
        double took = clock_now_s() - t0;
        pthread_mutex_lock(&s->lock);
        s->stats.copy_s += took;
        s->stats.chunks++;
        s->stats.bytes += (double)bytes;
        if (rc < 0) {
            s->failed = 1;
            s->copy_err = err;
        } else if (copy_queue_has(s->queue, key) && s->slot_of[key] == slot &&
                   s->owner[slot] == key && ++s->done[key] == s->chunks) {
            /* (a key evicted meanwhile was unqueued: its chunk is void) */
            copy_queue_remove(s->queue, key);
            s->stats.copies++;
        }
        pthread_cond_broadcast(&s->progressed);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void release_all(expert_store *s)
{
    if (s->slots)
        s->mv.release(s->mv.ctx, s->slots);
    free(s->slot_of);
    free(s->free_slots);
    free(s->owner);
    free(s->tail);
    free(s->next_of);
    free(s->done);
    copy_queue_free(s->queue);
    free(s);
}

expert_store *expert_store_create(const expert_mover *mv, int num_keys, int64_t capacity,
                                  int chunks, int preempt, promoe_err *err)
{
    if (chunks < 1 || chunks > 1024) {
        promoe_err_set(err, "chunks per expert %d must be in [1, 1024]", chunks);
        return NULL;
    }
    expert_store *s = calloc(1, sizeof *s);
    if (!s) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    size_t keys = (size_t)num_keys, cap = (size_t)capacity;
    s->mv = *mv;
    s->num_keys = num_keys;
    s->chunks = chunks;
    s->preempt = preempt;
    s->capacity = capacity;
    s->last_key = -1;
    s->slot_of = malloc(keys * sizeof *s->slot_of);
    s->free_slots = malloc(cap * sizeof *s->free_slots);
    s->owner = malloc(cap * sizeof *s->owner);
    s->tail = malloc(cap * sizeof *s->tail);
    s->next_of = malloc(keys * sizeof *s->next_of);
    s->done = calloc(keys, sizeof *s->done);
    s->queue = copy_queue_create(num_keys, preempt);
    if (!s->slot_of || !s->free_slots || !s->owner || !s->tail || !s->next_of || !s->done ||
        !s->queue) {
        release_all(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    if (!(s->slots = mv->alloc(mv->ctx, cap * mv->expert_bytes, err))) {
        release_all(s);
        return NULL;
    }
    for (size_t k = 0; k < keys; k++)
        s->slot_of[k] = s->next_of[k] = -1;
    for (size_t i = 0; i < cap; i++)
        s->owner[i] = s->tail[i] = -1;
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

void expert_store_load(expert_store *s, int key, int evicted, int prio, int64_t order,
                       int after_release)
{
    pthread_mutex_lock(&s->lock);
    int64_t slot;
    if (evicted >= 0 && s->slot_of[evicted] >= 0) {
        slot = s->slot_of[evicted];
        if (after_release) {
            s->next_of[s->tail[slot]] = key; /* in line behind the slot's last */
        } else {
            copy_queue_remove(s->queue, evicted); /* its copy stops after the chunk in flight */
            s->stats.cancelled += s->done[evicted] < s->chunks;
            s->slot_of[evicted] = -1;
            s->owner[slot] = key;
        }
    } else {
        slot = s->n_free ? s->free_slots[--s->n_free] : s->used++;
        s->owner[slot] = key;
    }
    s->tail[slot] = key;
    s->slot_of[key] = slot;
    s->next_of[key] = -1;
    s->done[key] = 0;
    copy_queue_push(s->queue, key, prio, order);
    pthread_cond_signal(&s->posted);
    pthread_mutex_unlock(&s->lock);
}

void expert_store_promote(expert_store *s, int key)
{
    pthread_mutex_lock(&s->lock);
    if (copy_queue_promote(s->queue, key))
        pthread_cond_signal(&s->posted);
    pthread_mutex_unlock(&s->lock);
}

int expert_store_ready(expert_store *s, int key)
{
    pthread_mutex_lock(&s->lock);
    int ready = s->slot_of[key] >= 0 && !copy_queue_has(s->queue, key);
    pthread_mutex_unlock(&s->lock);
    return ready;
}

const void *expert_store_acquire(expert_store *s, int key, promoe_err *err)
{
    pthread_mutex_lock(&s->lock);
    double t0 = clock_now_s();
    while (copy_queue_has(s->queue, key) && !s->failed)
        pthread_cond_wait(&s->progressed, &s->lock);
    s->stats.wait_s += clock_now_s() - t0;
    const void *at = NULL;
    if (s->failed)
        *err = s->copy_err;
    else
        at = s->slots + (size_t)s->slot_of[key] * s->mv.expert_bytes;
    pthread_mutex_unlock(&s->lock);
    return at;
}

void expert_store_release(expert_store *s, int key)
{
    pthread_mutex_lock(&s->lock);
    int64_t slot = s->slot_of[key];
    if (slot >= 0 && s->owner[slot] == key && s->next_of[key] >= 0) {
        if (s->mv.fence)
            s->mv.fence(s->mv.ctx); /* key's computation has read its slot to the end */
        s->owner[slot] = s->next_of[key]; /* the slot was promised on */
        s->slot_of[key] = -1;
        s->next_of[key] = -1;
        pthread_cond_signal(&s->posted);
    }
    pthread_mutex_unlock(&s->lock);
}

expert_store_stats expert_store_stats_of(expert_store *s)
{
    pthread_mutex_lock(&s->lock);
    expert_store_stats st = s->stats;
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

double expert_store_time_copy(expert_store *s, int num_layers, size_t bytes, int reps,
                              promoe_err *err)
{
    int E = s->num_keys / num_layers;
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
