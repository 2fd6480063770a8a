#include "offload/copy_queue.h"

#include <stdlib.h>

struct copy_queue {
    int preempt;
    uint8_t *queued, *priority;  /* [key] */
    int64_t *order;              /* [key] a LOW task's target position */
    uint64_t *seq;               /* [key] when asked (or promoted, with preemption) */
    uint64_t next_seq;
    int *keys, n;                /* the queued keys, any order */
    int *at;                     /* [key] its index in keys */
};

copy_queue *copy_queue_create(int num_keys, int preempt)
{
    copy_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    size_t n = (size_t)num_keys;
    q->preempt = preempt;
    q->queued = calloc(n, 1);
    q->priority = calloc(n, 1);
    q->order = calloc(n, sizeof *q->order);
    q->seq = calloc(n, sizeof *q->seq);
    q->keys = malloc(n * sizeof *q->keys);
    q->at = malloc(n * sizeof *q->at);
    if (!q->queued || !q->priority || !q->order || !q->seq || !q->keys || !q->at) {
        copy_queue_free(q);
        return NULL;
    }
    return q;
}

void copy_queue_free(copy_queue *q)
{
    if (!q)
        return;
    free(q->queued);
    free(q->priority);
    free(q->order);
    free(q->seq);
    free(q->keys);
    free(q->at);
    free(q);
}

void copy_queue_push(copy_queue *q, int key, int priority, int64_t order)
{
    if (q->queued[key])
        return;
    q->queued[key] = 1;
    q->priority[key] = (uint8_t)priority;
    q->order[key] = priority == COPY_HIGH ? 0 : order;
    q->seq[key] = q->next_seq++;
    q->at[key] = q->n;
    q->keys[q->n++] = key;
}

int copy_queue_promote(copy_queue *q, int key)
{
    if (!q->queued[key] || q->priority[key] == COPY_HIGH)
        return 0;
    q->priority[key] = COPY_HIGH;
    q->order[key] = 0;
    if (q->preempt) /* it joins the demands now; without preemption it keeps its place */
        q->seq[key] = q->next_seq++;
    return 1;
}

int copy_queue_remove(copy_queue *q, int key)
{
    if (!q->queued[key])
        return 0;
    int i = q->at[key], moved = q->keys[--q->n];
    q->keys[i] = moved;
    q->at[moved] = i;
    q->queued[key] = 0;
    return 1;
}

int copy_queue_has(const copy_queue *q, int key) { return q->queued[key]; }
int copy_queue_priority(const copy_queue *q, int key) { return q->priority[key]; }
int64_t copy_queue_order(const copy_queue *q, int key) { return q->order[key]; }

/* Whether a goes before b among tasks waiting to start or resume. */
static int before(const copy_queue *q, int a, int b)
{
    if (!q->preempt)
        return q->seq[a] < q->seq[b];
    if (q->priority[a] != q->priority[b])
        return q->priority[a] == COPY_HIGH;
    if (q->order[a] != q->order[b])
        return q->order[a] < q->order[b];
    return q->seq[a] < q->seq[b];
}

int copy_queue_take(copy_queue *q, int last, int (*eligible)(void *ctx, int key), void *ctx,
                    int *preempted)
{
    int best = -1, high_waits = 0;
    *preempted = 0;
    for (int i = 0; i < q->n; i++) {
        int k = q->keys[i];
        if (k == last || (eligible && !eligible(ctx, k)))
            continue;
        high_waits |= q->priority[k] == COPY_HIGH;
        if (best < 0 || before(q, k, best))
            best = k;
    }
    int last_goes_on = last >= 0 && q->queued[last] && (!eligible || eligible(ctx, last));
    if (last_goes_on && !(q->preempt && q->priority[last] == COPY_LOW && high_waits))
        return last;
    if (best >= 0 && last >= 0 && q->queued[last]) { /* passed over, part-done */
        if (q->priority[last] == COPY_LOW)
            q->order[last] = INT64_MIN; /* resumes before any prefetch not begun */
        *preempted = 1;
    }
    return best;
}

int copy_queue_keys(const copy_queue *q, const int **keys)
{
    *keys = q->keys;
    return q->n;
}
