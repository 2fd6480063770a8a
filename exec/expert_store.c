#include "exec/expert_store.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

struct expert_store {
    const exec_weights *w;
    size_t block;          /* floats of an expert */
    int64_t capacity, used;
    float *slots;          /* [capacity][block] */
    int64_t *slot_of;      /* [L * E]: the slot holding a key, or -1 */
    int64_t *free_slots;   /* evicted keys' slots come back here */
    int64_t n_free;
    expert_store_stats stats;
    /* the worker: one job at a time */
    pthread_t worker;
    pthread_mutex_t lock;
    pthread_cond_t posted, done;
    const float *src;
    float *dst;
    size_t floats;         /* of the job */
    int pending, stop;
};

static void *copy_worker(void *arg)
{
    expert_store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->pending && !s->stop)
            pthread_cond_wait(&s->posted, &s->lock);
        if (s->stop)
            break;
        const float *src = s->src;
        float *dst = s->dst;
        size_t chunk = s->floats / 3, last = s->floats - 2 * chunk; /* an expert: a matrix each */
        pthread_mutex_unlock(&s->lock);
        double t0 = clock_now_s();
        for (int c = 0; c < 3; c++)
            memcpy(dst + c * chunk, src + c * chunk, (c < 2 ? chunk : last) * sizeof(float));
        double took = clock_now_s() - t0;
        pthread_mutex_lock(&s->lock);
        s->stats.copy_s += took;
        s->pending = 0;
        pthread_cond_signal(&s->done);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Frees a store whose worker is not running. */
static void release(expert_store *s)
{
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->posted);
    pthread_cond_destroy(&s->done);
    free(s->slots);
    free(s->slot_of);
    free(s->free_slots);
    free(s);
}

expert_store *expert_store_create(const exec_weights *w, int64_t capacity, promoe_err *err)
{
    const model_desc *m = &w->model;
    size_t keys = (size_t)m->num_layers * (size_t)m->num_experts;
    expert_store *s = calloc(1, sizeof *s);
    if (!s) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    s->w = w;
    s->block = exec_expert_floats(m);
    s->capacity = capacity;
    s->slots = malloc((size_t)capacity * s->block * sizeof(float));
    s->slot_of = malloc(keys * sizeof *s->slot_of);
    s->free_slots = malloc((size_t)capacity * sizeof *s->free_slots);
    if (!s->slots || !s->slot_of || !s->free_slots) {
        free(s->slots);
        free(s->slot_of);
        free(s->free_slots);
        free(s);
        promoe_err_set(err, "out of memory for %lld expert slots", (long long)capacity);
        return NULL;
    }
    for (size_t k = 0; k < keys; k++)
        s->slot_of[k] = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->posted, NULL);
    pthread_cond_init(&s->done, NULL);
    if (pthread_create(&s->worker, NULL, copy_worker, s) != 0) {
        release(s);
        promoe_err_set(err, "cannot start the copy worker thread");
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
    pthread_join(s->worker, NULL);
    release(s);
}

/* Has the worker copy `floats` from src to dst, and waits for it. */
static void copy(expert_store *s, const float *src, float *dst, size_t floats)
{
    pthread_mutex_lock(&s->lock);
    s->src = src;
    s->dst = dst;
    s->floats = floats;
    s->pending = 1;
    pthread_cond_signal(&s->posted);
    while (s->pending)
        pthread_cond_wait(&s->done, &s->lock);
    s->stats.copies++;
    s->stats.bytes += (double)floats * sizeof(float);
    pthread_mutex_unlock(&s->lock);
}

const float *expert_store_load(expert_store *s, int key, int evicted)
{
    if (evicted >= 0 && s->slot_of[evicted] >= 0) {
        s->free_slots[s->n_free++] = s->slot_of[evicted];
        s->slot_of[evicted] = -1;
    }
    int64_t slot = s->n_free ? s->free_slots[--s->n_free] : s->used++;
    s->slot_of[key] = slot;
    int E = s->w->model.num_experts;
    float *dst = s->slots + (size_t)slot * s->block;
    copy(s, s->w->layers[key / E].experts + (size_t)(key % E) * s->block, dst, s->block);
    return dst;
}

double expert_store_time_copy(expert_store *s, size_t bytes, int reps)
{
    const model_desc *m = &s->w->model;
    size_t floats = bytes / sizeof(float), layer = (size_t)m->num_experts * s->block;
    if (floats > layer)
        floats = layer; /* a layer's experts are the largest run the weights hold */
    float *dst = malloc(floats * sizeof *dst);
    double *runs = malloc((size_t)(reps > 0 ? reps : 1) * sizeof *runs);
    double median = -1;
    if (dst && runs) {
        reps = reps > 0 ? reps : 1;
        expert_store_stats kept = s->stats;
        memset(dst, 0, floats * sizeof *dst);
        for (int r = 0; r < reps; r++) {
            /* from the weights, another layer and expert each run, so the
             * source comes from memory as an offloaded expert's does */
            size_t at = (size_t)(r / m->num_layers) * s->block % (layer - floats + 1);
            const float *src = s->w->layers[r % m->num_layers].experts + at;
            double t0 = clock_now_s();
            copy(s, src, dst, floats);
            runs[r] = clock_now_s() - t0;
        }
        s->stats = kept; /* measurements are not the run's copies */
        gsl_sort(runs, 1, (size_t)reps);
        median = gsl_stats_median_from_sorted_data(runs, 1, (size_t)reps);
    }
    free(dst);
    free(runs);
    return median;
}

const float *expert_store_get(const expert_store *s, int key)
{
    return s->slots + (size_t)s->slot_of[key] * s->block;
}

const expert_store_stats *expert_store_stats_of(const expert_store *s) { return &s->stats; }
