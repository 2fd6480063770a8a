#include "exec/predictor_thread.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/grow.h"

enum { QUEUE = 64 }; /* jobs queued at most: two steps of a 32-layer model */

/* A queue slot and the room its copies have. */
typedef struct slot {
    predictor_job job;
    size_t rows;
    int16_t *experts;
    float *weights, *hidden;
    int32_t *request, *position;
} slot;

struct predictor_thread {
    int K, D;
    predictor_job_fn fn;
    void *ctx;
    slot q[QUEUE];
    int head, count, stop;
    double waited_s;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t posted, served;
};

static void *serve(void *arg)
{
    predictor_thread *t = arg;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (!t->count && !t->stop)
            pthread_cond_wait(&t->posted, &t->lock);
        if (!t->count)
            break; /* stopped, and every job served */
        slot *s = &t->q[t->head];
        pthread_mutex_unlock(&t->lock);
        t->fn(t->ctx, &s->job); /* the slot stays the thread's until counted out */
        pthread_mutex_lock(&t->lock);
        t->head = (t->head + 1) % QUEUE;
        t->count--;
        pthread_cond_broadcast(&t->served);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

predictor_thread *predictor_thread_create(int top_k, int hidden_dim, predictor_job_fn fn,
                                          void *ctx, promoe_err *err)
{
    predictor_thread *t = calloc(1, sizeof *t);
    if (!t) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    *t = (predictor_thread){.K = top_k, .D = hidden_dim, .fn = fn, .ctx = ctx};
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->posted, NULL);
    pthread_cond_init(&t->served, NULL);
    if (pthread_create(&t->thread, NULL, serve, t) != 0) {
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->posted);
        pthread_cond_destroy(&t->served);
        free(t);
        promoe_err_set(err, "cannot start the predictor's thread");
        return NULL;
    }
    return t;
}

void predictor_thread_free(predictor_thread *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_cond_signal(&t->posted);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->posted);
    pthread_cond_destroy(&t->served);
    for (int i = 0; i < QUEUE; i++) {
        free(t->q[i].experts);
        free(t->q[i].weights);
        free(t->q[i].hidden);
        free(t->q[i].request);
        free(t->q[i].position);
    }
    free(t);
}

/* The free slot at the tail, waiting for room (the lock held). */
static slot *tail(predictor_thread *t)
{
    double t0 = clock_now_s();
    while (t->count == QUEUE)
        pthread_cond_wait(&t->served, &t->lock);
    t->waited_s += clock_now_s() - t0;
    return &t->q[(t->head + t->count) % QUEUE];
}

static void post(predictor_thread *t)
{
    t->count++;
    pthread_cond_signal(&t->posted);
}

int predictor_thread_begin(predictor_thread *t, int64_t step, promoe_err *err)
{
    (void)err;
    pthread_mutex_lock(&t->lock);
    slot *s = tail(t);
    s->job = (predictor_job){.begin = 1, .step = step};
    post(t);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

/* Room in s for n rows (the slot is the caller's: not queued yet). */
static int reserve(predictor_thread *t, slot *s, size_t n)
{
    if (n <= s->rows)
        return 0;
    size_t K = (size_t)t->K, D = (size_t)t->D;
    const grow_column columns[] = {
        {(void **)&s->experts, K * sizeof *s->experts},
        {(void **)&s->weights, K * sizeof *s->weights},
        {(void **)&s->hidden, D * sizeof *s->hidden},
        {(void **)&s->request, sizeof *s->request},
        {(void **)&s->position, sizeof *s->position},
    };
    if (grow_columns(columns, sizeof columns / sizeof *columns, n) < 0)
        return -1;
    s->rows = n;
    return 0;
}

int predictor_thread_observe(predictor_thread *t, int64_t step, const exec_routing *r,
                             int32_t request, int32_t position, promoe_err *err)
{
    size_t n = (size_t)r->tokens, K = (size_t)t->K, D = (size_t)t->D;
    pthread_mutex_lock(&t->lock);
    slot *s = tail(t);
    pthread_mutex_unlock(&t->lock); /* the tail slot is ours until posted */
    if (reserve(t, s, n) < 0)
        return promoe_err_set(err, "out of memory for the predictor's observations");
    for (size_t i = 0; i < n; i++) {
        s->request[i] = request;
        s->position[i] = position + (int32_t)i;
    }
    for (size_t i = 0; i < n * K; i++)
        s->experts[i] = (int16_t)r->experts[i];
    memcpy(s->weights, r->weights, n * K * sizeof *s->weights);
    if (D)
        memcpy(s->hidden, r->hidden, n * D * sizeof *s->hidden);
    s->job = (predictor_job){
        .step = step,
        .obs = {.layer = r->layer, .num_tokens = n, .request = s->request,
                .position = s->position, .experts = s->experts, .weights = s->weights,
                .hidden = D ? s->hidden : NULL},
        .hidden = D ? s->hidden : NULL};
    pthread_mutex_lock(&t->lock);
    post(t);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

void predictor_thread_drain(predictor_thread *t)
{
    pthread_mutex_lock(&t->lock);
    while (t->count)
        pthread_cond_wait(&t->served, &t->lock);
    pthread_mutex_unlock(&t->lock);
}

double predictor_thread_waited_s(predictor_thread *t)
{
    pthread_mutex_lock(&t->lock);
    double w = t->waited_s;
    pthread_mutex_unlock(&t->lock);
    return w;
}
