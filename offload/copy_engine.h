/* copy_engine.h - the host-to-device copy engine's state, whatever clock
 * moves it: one copy at a time, each expert moved in `chunks` pieces (1 =
 * unchunked), in the copy queue's order (offload/copy_queue.h): with
 * preempt on, a demand (HIGH)
 * submitted while a prefetch (LOW) is in flight starts at the end of the
 * current chunk, the prefetch keeping its place in line (a preemption).
 * Promoting a queued LOW task makes it HIGH; dropping one withdraws it (an
 * in-flight one stops at the end of its chunk: a DMA cannot be recalled).
 * An optional start hook is asked before a task's first chunk is copied,
 * so its owner can take a GPU slot only then (a queued prefetch overwrites
 * nothing) or withdraw it.
 *
 * The engine says which chunk starts; its clock moves it and says when it
 * has ended: the simulator's (sim/engine.c) as an event at the chunk's
 * cost, the executor's copy thread (exec/expert_store.c) by copying it.
 * Both run this one piece of code, so both copy the same chunks in the
 * same order.
 */
#ifndef PROMOE_OFFLOAD_COPY_ENGINE_H
#define PROMOE_OFFLOAD_COPY_ENGINE_H

#include <stdint.h>

#include "offload/copy_queue.h"

typedef struct copy_stats {
    int64_t copies;        /* experts fully copied */
    int64_t chunks;
    double bytes;
    int64_t busy_ns;
    int64_t preemptions;   /* LOW copies interrupted between chunks */
    int64_t dropped;       /* LOW tasks withdrawn */
    int64_t withdrawn;     /* tasks the start hook refused */
} copy_stats;

typedef struct copy_engine copy_engine;

/* chunk_ns: time of one chunk (latency included); chunk_bytes: its size. */
copy_engine *copy_engine_create(int num_keys, int chunks, int64_t chunk_ns, double chunk_bytes,
                                int preempt);
void copy_engine_free(copy_engine *ce);

/* Called before the first chunk of key is copied; returns 1 to copy it, 0
 * to withdraw the task (counted in stats.withdrawn). */
typedef int (*copy_start_fn)(void *ctx, int key);
void copy_engine_set_start_hook(copy_engine *ce, copy_start_fn fn, void *ctx);

/* Queues a copy of key (LOW ones by `order`, the target position); no
 * effect if key is already queued or in flight.  Returns the key whose
 * chunk starts now (the engine was idle), or -1: the clock moves it. */
int copy_engine_submit(copy_engine *ce, int key, int priority, int64_t order);
/* The same for a copy of another size (a low-precision expert): chunks
 * of chunk_ns each, moving chunk_bytes each. */
int copy_engine_submit_sized(copy_engine *ce, int key, int priority, int64_t order,
                             int64_t chunk_ns, double chunk_bytes);
/* Makes a queued or in-flight LOW task HIGH. */
void copy_engine_promote(copy_engine *ce, int key);
/* Withdraws a LOW task, queued or in flight; returns 1 if it did.  Its
 * copied chunks are lost; submitting the key again while its last chunk is
 * still in flight resumes it. */
int copy_engine_drop(copy_engine *ce, int key);
/* Chunks of key already copied (for reordering partly loaded experts). */
int copy_engine_chunks_done(const copy_engine *ce, int key);
/* The key being copied now, or -1. */
int copy_engine_in_flight(const copy_engine *ce);

/* When a copy of one expert submitted at `now` at `priority` (a LOW one
 * for target position `order`) would finish, given the copy in flight (its
 * chunk ending at chunk_end) and the tasks that would go before it. */
int64_t copy_engine_estimate_done(const copy_engine *ce, int64_t now, int64_t chunk_end,
                                  int priority, int64_t order);

/* The chunk in flight has ended: *finished is the key whose copy it
 * finished, or -1.  Returns the key whose chunk starts now, or -1. */
int copy_engine_chunk_done(copy_engine *ce, int *finished);
/* The cost and size of one chunk of key's task (as submitted). */
int64_t copy_engine_chunk_ns(const copy_engine *ce, int key);
double copy_engine_chunk_bytes(const copy_engine *ce, int key);

const copy_stats *copy_engine_stats(const copy_engine *ce);

#endif
