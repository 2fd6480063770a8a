#include "sim/copy_engine.h"

#include <stdlib.h>
#include <string.h>

typedef struct task {
    int key, rank;
    uint64_t seq;
} task;

/* A small queue kept in order; tasks number at most the keys. */
typedef struct task_queue {
    task *items;
    int n;
} task_queue;

struct copy_engine {
    int num_keys, chunks, preempt;
    int64_t chunk_ns;
    double chunk_bytes;
    uint8_t *state;        /* 0 idle, 1 queued, 2 in flight */
    uint8_t *priority;     /* [key] */
    int16_t *done;         /* [key] chunks copied */
    int64_t *task_ns;      /* [key] time of one chunk of its task */
    double *task_bytes;    /* [key] bytes of one chunk of its task */
    task_queue high, low;
    int current;           /* key in flight, or -1 */
    int dropping;          /* the key in flight stops at the end of its chunk */
    int64_t chunk_end;     /* when the chunk in flight ends */
    uint64_t seq;
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
    ce->state = calloc((size_t)num_keys, 1);
    ce->priority = calloc((size_t)num_keys, 1);
    ce->done = calloc((size_t)num_keys, sizeof *ce->done);
    ce->task_ns = calloc((size_t)num_keys, sizeof *ce->task_ns);
    ce->task_bytes = calloc((size_t)num_keys, sizeof *ce->task_bytes);
    ce->high.items = malloc((size_t)num_keys * sizeof(task));
    ce->low.items = malloc((size_t)num_keys * sizeof(task));
    if (!ce->state || !ce->priority || !ce->done || !ce->task_ns || !ce->task_bytes ||
        !ce->high.items || !ce->low.items) {
        copy_engine_free(ce);
        return NULL;
    }
    return ce;
}

void copy_engine_free(copy_engine *ce)
{
    if (!ce)
        return;
    free(ce->state);
    free(ce->priority);
    free(ce->done);
    free(ce->task_ns);
    free(ce->task_bytes);
    free(ce->high.items);
    free(ce->low.items);
    free(ce);
}

/* Inserts keeping (rank, seq) order; HIGH and FIFO tasks all have rank 0. */
static void enqueue(task_queue *tq, task t)
{
    int i = tq->n++;
    while (i > 0 && (tq->items[i - 1].rank > t.rank ||
                     (tq->items[i - 1].rank == t.rank && tq->items[i - 1].seq > t.seq))) {
        tq->items[i] = tq->items[i - 1];
        i--;
    }
    tq->items[i] = t;
}

static int remove_key(task_queue *tq, int key, task *out)
{
    for (int i = 0; i < tq->n; i++)
        if (tq->items[i].key == key) {
            if (out)
                *out = tq->items[i];
            memmove(&tq->items[i], &tq->items[i + 1], (size_t)(tq->n - i - 1) * sizeof(task));
            tq->n--;
            return 1;
        }
    return 0;
}

static task pop_front(task_queue *tq)
{
    task t = tq->items[0];
    memmove(&tq->items[0], &tq->items[1], (size_t)(tq->n - 1) * sizeof(task));
    tq->n--;
    return t;
}

static void start_chunk(copy_engine *ce, event_queue *q, int64_t now, int key)
{
    ce->current = key;
    ce->chunk_end = now + ce->task_ns[key];
    ce->state[key] = 2;
    event_queue_push(q, ce->chunk_end, COPY_EVENT_CHUNK_DONE, key, 0);
}

/* Picks what the engine copies next, at time now, when it is free. */
static void start_next(copy_engine *ce, event_queue *q, int64_t now)
{
    int cur = ce->current;
    if (cur >= 0) {
        /* between chunks of an unfinished copy */
        if (ce->preempt && ce->priority[cur] == COPY_LOW && ce->high.n > 0) {
            task back = {cur, -1, 0}; /* to the front of the LOW queue */
            enqueue(&ce->low, back);
            ce->state[cur] = 1;
            ce->stats.preemptions++;
        } else {
            start_chunk(ce, q, now, cur);
            return;
        }
    }
    ce->current = -1;
    task_queue *from;
    while ((from = ce->high.n > 0 ? &ce->high : ce->low.n > 0 ? &ce->low : NULL)) {
        int key = pop_front(from).key;
        if (ce->done[key] == 0 && ce->on_start && !ce->on_start(ce->on_start_ctx, key)) {
            ce->state[key] = 0;
            ce->stats.withdrawn++;
            continue;
        }
        start_chunk(ce, q, now, key);
        return;
    }
}

void copy_engine_set_start_hook(copy_engine *ce, copy_start_fn fn, void *ctx)
{
    ce->on_start = fn;
    ce->on_start_ctx = ctx;
}

int copy_engine_submit(copy_engine *ce, event_queue *q, int64_t now, int key, int priority,
                       int rank)
{
    return copy_engine_submit_sized(ce, q, now, key, priority, rank, ce->chunk_ns, ce->chunk_bytes);
}

int copy_engine_submit_sized(copy_engine *ce, event_queue *q, int64_t now, int key, int priority,
                             int rank, int64_t chunk_ns, double chunk_bytes)
{
    if (ce->state[key]) {
        if (key == ce->current && ce->dropping) { /* resumed before its chunk ended */
            ce->dropping = 0;
            ce->priority[key] = (uint8_t)priority;
        }
        return 0;
    }
    ce->state[key] = 1;
    ce->priority[key] = (uint8_t)priority;
    ce->done[key] = 0;
    ce->task_ns[key] = chunk_ns;
    ce->task_bytes[key] = chunk_bytes;
    /* without preemption everything waits in one FIFO */
    int high = !ce->preempt || priority == COPY_HIGH;
    task t = {key, high ? 0 : rank, ce->seq++};
    enqueue(high ? &ce->high : &ce->low, t);
    if (ce->current < 0)
        start_next(ce, q, now);
    return 0;
}

void copy_engine_promote(copy_engine *ce, int key)
{
    if (!ce->state[key] || ce->priority[key] == COPY_HIGH)
        return;
    ce->priority[key] = COPY_HIGH;
    task t;
    if (ce->preempt && ce->state[key] == 1 && remove_key(&ce->low, key, &t)) {
        t.rank = 0;
        t.seq = ce->seq++;
        enqueue(&ce->high, t);
    }
}

int copy_engine_drop(copy_engine *ce, int key)
{
    if (!ce->state[key] || ce->priority[key] == COPY_HIGH || (key == ce->current && ce->dropping))
        return 0;
    if (key == ce->current)
        ce->dropping = 1;
    else if (remove_key(&ce->low, key, NULL) || remove_key(&ce->high, key, NULL))
        ce->state[key] = 0;
    else
        return 0;
    ce->stats.dropped++;
    return 1;
}

int64_t copy_engine_estimate_high_done(const copy_engine *ce, int64_t now)
{
    int64_t t = now;
    int cur = ce->current;
    if (cur >= 0) {
        t = ce->chunk_end;
        /* the rest of the copy in flight goes first unless a HIGH task
         * would take over at the chunk boundary */
        if (!ce->dropping && (!ce->preempt || ce->priority[cur] == COPY_HIGH))
            t += (int64_t)(ce->chunks - ce->done[cur] - 1) * ce->task_ns[cur];
    }
    for (int i = 0; i < ce->high.n; i++) { /* without preempt: every queued task */
        int key = ce->high.items[i].key;
        t += (int64_t)(ce->chunks - ce->done[key]) * ce->task_ns[key];
    }
    return t + (int64_t)ce->chunks * ce->chunk_ns;
}

int copy_engine_pending(const copy_engine *ce, int key) { return ce->state[key] != 0; }
int copy_engine_chunks_done(const copy_engine *ce, int key) { return ce->done[key]; }

int copy_engine_in_flight(const copy_engine *ce) { return ce->current; }

int copy_engine_on_event(copy_engine *ce, event_queue *q, const sim_event *ev)
{
    if (ev->kind != COPY_EVENT_CHUNK_DONE)
        return -1;
    int key = ev->a, finished = -1;
    ce->stats.chunks++;
    ce->stats.bytes += ce->task_bytes[key];
    ce->stats.busy_ns += ce->task_ns[key];
    if (ce->dropping) {
        ce->dropping = 0;
        ce->state[key] = 0;
        ce->current = -1;
    } else if (++ce->done[key] == ce->chunks) {
        ce->state[key] = 0;
        ce->current = -1;
        ce->stats.copies++;
        finished = key;
    }
    start_next(ce, q, ev->time_ns);
    return finished;
}

const copy_stats *copy_engine_stats(const copy_engine *ce) { return &ce->stats; }
