#include "sim/batcher.h"

#include <stdlib.h>
#include <string.h>

#include "common/grow.h"

void step_buf_free(step_buf *b)
{
    free(b->request);
    free(b->position);
    free(b->phase);
    free(b->experts);
    free(b->weights);
    free(b->hidden);
    memset(b, 0, sizeof *b);
}

/* Appends n tokens to b (weights: when b carries them). */
static int step_append(step_buf *b, size_t n, const int32_t *req, const int32_t *pos,
                       const uint8_t *phase, const int16_t *experts, const float *weights,
                       const float *hidden)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n)
            c *= 2;
        int32_t *r = realloc(b->request, c * sizeof *r);
        if (r) b->request = r;
        int32_t *p = realloc(b->position, c * sizeof *p);
        if (p) b->position = p;
        uint8_t *f = realloc(b->phase, c);
        if (f) b->phase = f;
        int16_t *e = realloc(b->experts, c * b->lk * sizeof *e);
        if (e) b->experts = e;
        float *w = b->has_weights ? realloc(b->weights, c * b->lk * sizeof *w) : NULL;
        if (w) b->weights = w;
        float *h = b->ld ? realloc(b->hidden, c * b->ld * sizeof *h) : NULL;
        if (h) b->hidden = h;
        if (!r || !p || !f || !e || (b->has_weights && !w) || (b->ld && !h))
            return -1;
        b->cap = c;
    }
    memcpy(b->request + b->n, req, n * sizeof *req);
    memcpy(b->position + b->n, pos, n * sizeof *pos);
    memcpy(b->phase + b->n, phase, n);
    memcpy(b->experts + b->n * b->lk, experts, n * b->lk * sizeof *experts);
    if (b->has_weights)
        memcpy(b->weights + b->n * b->lk, weights, n * b->lk * sizeof *weights);
    if (b->ld)
        memcpy(b->hidden + b->n * b->ld, hidden, n * b->ld * sizeof *hidden);
    b->n += n;
    return 0;
}

/* A request's recorded iterations, waiting to be run. */
typedef struct request_queue {
    int32_t id;
    int closed;          /* all of its iterations have been read */
    step_buf *items;     /* one recorded iteration each */
    size_t head, count, cap;
} request_queue;

struct batcher {
    trace_reader *r;
    int batch;
    size_t lk, ld;
    request_queue *queues;   /* in trace order; [first, n) still to finish */
    size_t first, n, cap;
    int reader_done;
    int32_t last_request;
};

batcher *batcher_create(trace_reader *r, int batch, promoe_err *err)
{
    if (batch < 1) {
        promoe_err_set(err, "batch size %d must be at least 1", batch);
        return NULL;
    }
    batcher *b = calloc(1, sizeof *b);
    if (!b) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    const trace_meta *m = trace_reader_meta(r);
    b->r = r;
    b->batch = batch;
    b->lk = (size_t)m->num_layers * (size_t)m->top_k;
    b->ld = (m->content & TRACE_HIDDEN) ? (size_t)m->num_layers * (size_t)m->hidden_dim : 0;
    b->last_request = INT32_MIN;
    return b;
}

void batcher_free(batcher *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        for (size_t j = 0; j < b->queues[i].cap; j++)
            step_buf_free(&b->queues[i].items[j]);
        free(b->queues[i].items);
    }
    free(b->queues);
    free(b);
}

/* Reads one recorded iteration into its request's queue. */
static int read_one(batcher *b, promoe_err *err)
{
    trace_iteration it;
    int got = trace_read_iteration(b->r, &it, err);
    if (got <= 0) {
        if (got == 0) {
            b->reader_done = 1;
            if (b->n)
                b->queues[b->n - 1].closed = 1;
        }
        return got;
    }
    for (size_t t = 1; t < it.num_tokens; t++)
        if (it.request[t] != it.request[0])
            return promoe_err_set(err, "iteration %d mixes requests %d and %d: the trace is "
                                  "already batched, so replay it with --batch 1", it.id,
                                  it.request[0], it.request[t]);
    if (it.request[0] != b->last_request) {
        for (size_t i = 0; i < b->n; i++)
            if (b->queues[i].id == it.request[0])
                return promoe_err_set(err, "request %d's iterations are not stored together; "
                                      "--batch needs requests one after another", it.request[0]);
        if (b->n)
            b->queues[b->n - 1].closed = 1;
        request_queue *grown = grow_array(b->queues, &b->cap, b->n + 1, sizeof *grown, 16);
        if (!grown)
            return promoe_err_set(err, "out of memory");
        b->queues = grown;
        b->queues[b->n++] = (request_queue){.id = it.request[0]};
        b->last_request = it.request[0];
    }
    request_queue *q = &b->queues[b->n - 1];
    size_t had = q->cap;
    step_buf *items = grow_array(q->items, &q->cap, q->head + q->count + 1, sizeof *items, 8);
    if (!items)
        return promoe_err_set(err, "out of memory");
    memset(items + had, 0, (q->cap - had) * sizeof *items);
    q->items = items;
    step_buf *s = &q->items[q->head + q->count++];
    s->n = 0;
    s->lk = b->lk;
    s->ld = it.hidden ? b->ld : 0;
    s->has_weights = it.weights != NULL;
    if (step_append(s, it.num_tokens, it.request, it.position, it.phase, it.experts, it.weights,
                    it.hidden) < 0)
        return promoe_err_set(err, "out of memory");
    return 1;
}

int batcher_next(batcher *b, step_buf *out, promoe_err *err)
{
    out->n = 0;
    out->lk = b->lk;
    out->valid = 0;
    if (b->batch == 1) {
        /* the recorded iterations as they are */
        trace_iteration it;
        int got = trace_read_iteration(b->r, &it, err);
        if (got <= 0)
            return got;
        out->ld = it.hidden ? b->ld : 0;
        out->has_weights = it.weights != NULL;
        if (step_append(out, it.num_tokens, it.request, it.position, it.phase, it.experts,
                        it.weights, it.hidden) < 0)
            return promoe_err_set(err, "out of memory");
        out->valid = 1;
        return 1;
    }
    /* drop finished requests from the front, then serve up to `batch` */
    size_t served = 0;
    for (size_t i = b->first; i < b->n && served < (size_t)b->batch; i++) {
        request_queue *q = &b->queues[i];
        while (q->count == 0 && !q->closed) {
            int got = read_one(b, err);
            if (got < 0)
                return -1;
            q = &b->queues[i]; /* the array may have moved */
        }
        if (q->count == 0)
            continue; /* finished */
        step_buf *s = &q->items[q->head++];
        q->count--;
        out->ld = s->ld;
        out->has_weights = s->has_weights;
        if (step_append(out, s->n, s->request, s->position, s->phase, s->experts, s->weights,
                        s->hidden) < 0)
            return promoe_err_set(err, "out of memory");
        served++;
        if (q->count == 0)
            q->head = 0;
        /* make sure the next request is known, so it can take a free place */
        while (i + 1 == b->n && !b->reader_done && served < (size_t)b->batch) {
            int got = read_one(b, err);
            if (got < 0)
                return -1;
            if (b->n > i + 1)
                break;
        }
    }
    while (b->first < b->n && b->queues[b->first].closed && b->queues[b->first].count == 0) {
        request_queue *q = &b->queues[b->first++];
        for (size_t j = 0; j < q->cap; j++)
            step_buf_free(&q->items[j]);
        free(q->items);
        q->items = NULL;
        q->cap = 0;
    }
    if (served == 0 && b->first == b->n && !b->reader_done) {
        int got = read_one(b, err);
        if (got < 0)
            return -1;
        if (got > 0)
            return batcher_next(b, out, err);
    }
    out->valid = served > 0;
    return served > 0;
}
