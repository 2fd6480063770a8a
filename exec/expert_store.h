/* expert_store.h - the executor's expert slots in device memory and the
 * copy engine that fills them: a thread of its own that moves experts in
 * chunks, one chunk at a time, always the most urgent first, so that a
 * demand load overtakes queued prefetch chunks (the paper's early
 * preemption, for real: a preempted prefetch resumes where it stopped),
 * in the copy queue's order (offload/copy_queue.h), the simulator's own.
 *
 * Which expert a slot holds is the cache's decision (offload/access_stream);
 * the store moves the bytes.  A slot handed to a new expert stops its old
 * copy at once, except when the old expert still has to compute in the
 * running layer (`after_release`): then the new copy waits until it has.
 *
 * The backend is a mover: where slots live, where an expert's bytes come
 * from and how a chunk is copied (memcpy on the CPU backend; a copy stream
 * on the CUDA one).
 */
#ifndef PROMOE_EXEC_EXPERT_STORE_H
#define PROMOE_EXEC_EXPERT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "exec/weights.h"
#include "offload/copy_queue.h"

typedef struct expert_mover {
    size_t expert_bytes;
    /* `bytes` of device memory for slots, or NULL (err says why) */
    void *(*alloc)(void *ctx, size_t bytes, promoe_err *err);
    void (*release)(void *ctx, void *p);
    /* the host bytes of expert `key` (layer * E + expert); a layer's
     * experts lie back to back */
    const void *(*source)(void *ctx, int key);
    /* copies bytes, returning when done (run by the copy thread); -1 with
     * err on failure */
    int (*copy)(void *ctx, void *dst, const void *src, size_t bytes, promoe_err *err);
    /* optional: waits until the computation launched so far has stopped
     * reading slots (a device computing asynchronously), before a slot
     * passes to another expert */
    void (*fence)(void *ctx);
    void *ctx;
} expert_mover;

/* The CPU backend's mover: slots in host memory, experts read from w
 * (fp32), chunks copied by memcpy. */
expert_mover expert_mover_cpu(const exec_weights *w);

typedef struct expert_store expert_store;

typedef struct expert_store_stats {
    int64_t copies;        /* experts copied whole */
    int64_t chunks, preemptions, cancelled;
    double bytes, copy_s;  /* moved, and the copy thread's time moving them */
    double wait_s;         /* time computing waited for copies */
} expert_store_stats;

/* Slots for `capacity` of num_keys experts, each copied in `chunks` pieces
 * (1..1024).  Without preempt, copies run whole in the order asked, as a
 * copy engine without priorities does.  The mover's context must outlive
 * the store. */
expert_store *expert_store_create(const expert_mover *mv, int num_keys, int64_t capacity,
                                  int chunks, int preempt, promoe_err *err);
void expert_store_free(expert_store *s);

/* Gives expert `key` a slot (the one `evicted` held, or a free one when
 * evicted < 0) and queues its copy at priority `prio` (COPY_HIGH or
 * COPY_LOW), prefetches ordered by `order` (the target's position).  With
 * after_release, evicted keeps its slot until expert_store_release(evicted). */
void expert_store_load(expert_store *s, int key, int evicted, int prio, int64_t order,
                       int after_release);
/* A queued or running prefetch is now needed: it becomes a demand copy. */
void expert_store_promote(expert_store *s, int key);
/* 1 if key's bytes are all in its slot. */
int expert_store_ready(expert_store *s, int key);
/* Waits until key is in its slot and returns the slot, or NULL when a copy
 * failed (err says why). */
const void *expert_store_acquire(expert_store *s, int key, promoe_err *err);
/* key has computed: a slot promised to another expert passes on. */
void expert_store_release(expert_store *s, int key);
/* The figures so far (read under the lock: the copy thread updates them). */
expert_store_stats expert_store_stats_of(expert_store *s);
/* The median time of `reps` copies of `bytes` (at most a layer's experts)
 * from the experts, another layer each time, through the copy thread,
 * hand-over included: what `promoe profile` tabulates.  -1 with err when
 * memory runs out or a copy fails. */
double expert_store_time_copy(expert_store *s, int num_layers, size_t bytes, int reps,
                              promoe_err *err);

#endif
