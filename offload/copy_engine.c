#include "offload/copy_engine.h"

#include <stdlib.h>

#include "offload/copy_queue.h"

struct copy_engine {
    int num_keys, chunks, preempt;
    int64_t chunk_ns;
    double chunk_bytes;
    copy_queue *queue;     /* the tasks not finished, the one in flight included */
    int16_t *done;         /* [key] chunks copied */
    int64_t *task_ns;      /* [key] time of one chunk of its task */
    double *task_bytes;    /* [key] bytes of one chunk of its task */
    int current;           /* key in flight, or -1 */
    int dropping;          /* the key in flight stops at the end of its chunk */
    copy_start_fn on_start;
    void *on_start_ctx;
    copy_stats stats;
};

copy_engine *copy_engine_create(int num_keys, int chunks, int64_t chunk_ns, double chunk_bytes,
                                int preempt)
{
    copy_engine *ce = calloc(1, sizeof *ce);
    if (!ce)
        return NULL;
    ce->num_keys = num_keys;
    ce->chunks = chunks < 1 ? 1 : chunks;
    ce->chunk_ns = chunk_ns;
    ce->chunk_bytes = chunk_bytes;
    ce->preempt = preempt;
    ce->current = -1;
    ce->queue = copy_queue_create(num_keys, preempt);
    ce->done = calloc((size_t)num_keys, sizeof *ce->done);
    ce->task_ns = calloc((size_t)num_keys, sizeof *ce->task_ns);
    ce->task_bytes = calloc((size_t)num_keys, sizeof *ce->task_bytes);
    if (!ce->queue || !ce->done || !ce->task_ns || !ce->task_bytes) {
        copy_engine_free(ce);
        return NULL;
    }
    return ce;
}

void copy_engine_free(copy_engine *ce)
{
    if (!ce)
        return;
    copy_queue_free(ce->queue);
    free(ce->done);
    free(ce->task_ns);
    free(ce->task_bytes);
    free(ce);
}

/* Picks what the engine copies next, when it is free: the copy queue's
 * order (offload/copy_queue.h); a task's first chunk only once the start
 * hook agrees.  Returns the key whose chunk starts, or -1. */
static int start_next(copy_engine *ce)
{
    int last = ce->current, key, preempted;
    ce->current = -1;
    while ((key = copy_queue_take(ce->queue, last, NULL, NULL, &preempted)) >= 0) {
        ce->stats.preemptions += preempted; /* a prefetch set aside between chunks */
        last = -1;
        if (ce->done[key] == 0 && ce->on_start && !ce->on_start(ce->on_start_ctx, key)) {
            copy_queue_remove(ce->queue, key);
            ce->stats.withdrawn++;
            continue;
        }
        return ce->current = key;
    }
    return -1;
}

void copy_engine_set_start_hook(copy_engine *ce, copy_start_fn fn, void *ctx)
{
    ce->on_start = fn;
    ce->on_start_ctx = ctx;
}

int copy_engine_submit(copy_engine *ce, int key, int priority, int64_t order)
{
    return copy_engine_submit_sized(ce, key, priority, order, ce->chunk_ns, ce->chunk_bytes);
}

int copy_engine_submit_sized(copy_engine *ce, int key, int priority, int64_t order,
                             int64_t chunk_ns, double chunk_bytes)
{
    if (key == ce->current && ce->dropping) { /* resumed before its chunk ended */
        ce->dropping = 0;
        copy_queue_push(ce->queue, key, priority, order);
        return -1;
    }
    if (copy_queue_has(ce->queue, key))
        return -1;
    ce->done[key] = 0;
    ce->task_ns[key] = chunk_ns;
    ce->task_bytes[key] = chunk_bytes;
    copy_queue_push(ce->queue, key, priority, order);
    return ce->current < 0 ? start_next(ce) : -1;
}

void copy_engine_promote(copy_engine *ce, int key) { copy_queue_promote(ce->queue, key); }

int copy_engine_drop(copy_engine *ce, int key)
{
    if (!copy_queue_has(ce->queue, key) || copy_queue_priority(ce->queue, key) == COPY_HIGH)
        return 0;
    copy_queue_remove(ce->queue, key);
    ce->dropping |= key == ce->current; /* a DMA cannot be recalled: its chunk ends */
    ce->stats.dropped++;
    return 1;
}

/* Whether queued task key goes before a new task at priority (order). */
static int goes_before(const copy_engine *ce, int key, int priority, int64_t order)
{
    if (!ce->preempt || copy_queue_priority(ce->queue, key) == COPY_HIGH)
        return 1;
    return priority == COPY_LOW && copy_queue_order(ce->queue, key) <= order;
}

int64_t copy_engine_estimate_done(const copy_engine *ce, int64_t now, int64_t chunk_end,
                                  int priority, int64_t order)
{
    int64_t t = now;
    int cur = ce->current;
    if (cur >= 0) {
        t = chunk_end;
        /* the rest of the copy in flight goes first unless the new task
         * would take over at the chunk boundary (a HIGH one, preempting) */
        if (!ce->dropping && (priority == COPY_LOW || goes_before(ce, cur, priority, order)))
            t += (int64_t)(ce->chunks - ce->done[cur] - 1) * ce->task_ns[cur];
    }
    const int *keys;
    int n = copy_queue_keys(ce->queue, &keys);
    for (int i = 0; i < n; i++) {
        int key = keys[i];
        if (key != cur && goes_before(ce, key, priority, order))
            t += (int64_t)(ce->chunks - ce->done[key]) * ce->task_ns[key];
    }
    return t + (int64_t)ce->chunks * ce->chunk_ns;
}

int copy_engine_chunks_done(const copy_engine *ce, int key) { return ce->done[key]; }

int copy_engine_in_flight(const copy_engine *ce) { return ce->current; }

int copy_engine_chunk_done(copy_engine *ce, int *finished)
{
    int key = ce->current;
    *finished = -1;
    ce->stats.chunks++;
    ce->stats.bytes += ce->task_bytes[key];
    ce->stats.busy_ns += ce->task_ns[key];
    if (ce->dropping) {
        ce->dropping = 0;
        ce->current = -1;
    } else if (++ce->done[key] == ce->chunks) {
        copy_queue_remove(ce->queue, key);
        ce->current = -1;
        ce->stats.copies++;
        *finished = key;
    }
    return start_next(ce);
}

int64_t copy_engine_chunk_ns(const copy_engine *ce, int key) { return ce->task_ns[key]; }
double copy_engine_chunk_bytes(const copy_engine *ce, int key) { return ce->task_bytes[key]; }

const copy_stats *copy_engine_stats(const copy_engine *ce) { return &ce->stats; }
