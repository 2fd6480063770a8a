/* copy_queue.h - the order in which experts are copied to the GPU: the one
 * rule both the simulator's copy engine (sim/copy_engine.c, on the cost
 * model's clock) and the executor's copy thread (exec/expert_store.c, on
 * the real one) follow, so that both move the same chunks in the same order.
 *
 * A task is one expert's copy, moved a chunk at a time.  After each chunk
 * the engine asks for the next one:
 *  - the copy in flight goes on, unless preemption is on, it is a
 *    prefetch (LOW) and a demand (HIGH) is waiting: then it is preempted
 *    (the paper's early preemption: a demand waits for at most one chunk)
 *    and set aside at the front of the prefetches, to resume first;
 *  - otherwise, with preemption, demands in the order asked (a promoted
 *    prefetch joins them when promoted), then prefetches lowest target
 *    position first, ties in the order asked; without preemption, every
 *    task in the order asked.
 */
#ifndef PROMOE_OFFLOAD_COPY_QUEUE_H
#define PROMOE_OFFLOAD_COPY_QUEUE_H

#include <stdint.h>

enum copy_priority { COPY_HIGH = 0, COPY_LOW = 1 };

typedef struct copy_queue copy_queue;

/* A queue for keys 0..num_keys-1; NULL when out of memory. */
copy_queue *copy_queue_create(int num_keys, int preempt);
void copy_queue_free(copy_queue *q);

/* Queues key (not queued already) at `priority`; a LOW task's `order` is
 * its target position (lower goes first). */
void copy_queue_push(copy_queue *q, int key, int priority, int64_t order);
/* A queued LOW task becomes HIGH; returns 1 if it was LOW. */
int copy_queue_promote(copy_queue *q, int key);
/* Withdraws key; returns 1 if it was queued. */
int copy_queue_remove(copy_queue *q, int key);
int copy_queue_has(const copy_queue *q, int key);
int copy_queue_priority(const copy_queue *q, int key);
/* A queued LOW task's target position (a preempted one's: INT64_MIN). */
int64_t copy_queue_order(const copy_queue *q, int key);
/* The key to copy a chunk of next, `last` being the one whose chunk just
 * ended (-1: none; ignored unless still queued), by the rule above, among
 * the keys `eligible` accepts (NULL: all); -1 when none is.  When it
 * passes over `last` with chunks left (a prefetch preempted between
 * chunks), *preempted is set to 1 (else 0) and a prefetch is set aside at
 * the front of the prefetches. */
int copy_queue_take(copy_queue *q, int last, int (*eligible)(void *ctx, int key), void *ctx,
                    int *preempted);
/* The queued keys, in no particular order: *keys is valid until the next
 * change. */
int copy_queue_keys(const copy_queue *q, const int **keys);

#endif
