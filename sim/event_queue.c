#include "sim/event_queue.h"

#include <math.h>
#include <stdlib.h>

#include "common/grow.h"

void event_queue_init(event_queue *q)
{
    q->heap = NULL;
    q->n = q->cap = 0;
    q->next_seq = 0;
}

void event_queue_free(event_queue *q)
{
    free(q->heap);
    event_queue_init(q);
}

static int earlier(const sim_event *x, const sim_event *y)
{
    return x->time_ns < y->time_ns || (x->time_ns == y->time_ns && x->seq < y->seq);
}

int event_queue_push(event_queue *q, int64_t time_ns, int kind, int32_t a, int32_t b)
{
    sim_event *h = grow_array(q->heap, &q->cap, q->n + 1, sizeof *h, 256);
    if (!h)
        return -1;
    q->heap = h;
    sim_event e = {time_ns, q->next_seq++, kind, a, b};
    size_t i = q->n++;
    while (i > 0 && earlier(&e, &q->heap[(i - 1) / 2])) {
        q->heap[i] = q->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->heap[i] = e;
    return 0;
}

int event_queue_pop(event_queue *q, sim_event *out)
{
    if (q->n == 0)
        return 0;
    *out = q->heap[0];
    sim_event last = q->heap[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n)
            break;
        if (c + 1 < q->n && earlier(&q->heap[c + 1], &q->heap[c]))
            c++;
        if (!earlier(&q->heap[c], &last))
            break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    q->heap[i] = last;
    return 1;
}

const sim_event *event_queue_peek(const event_queue *q)
{
    return q->n ? &q->heap[0] : NULL;
}

int64_t sim_ns(double seconds)
{
    return (int64_t)llround(seconds * 1e9);
}
