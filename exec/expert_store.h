/* expert_store.h - the executor's expert slots in device memory and the
 * copy thread that fills them: a thread of its own running the copy
 * engine (offload/copy_engine.h, the simulator's own), one chunk at a
 * time, so that a demand overtakes queued prefetch chunks (the paper's
 * early preemption, for real: a preempted prefetch resumes where it
 * stopped).
 *
 * Which expert a slot holds is the decision engine's choice
 * (offload/engine.h, driven by exec/offload_clock.c): it places an expert
 * in a slot (evicting another) or vacates one, and asks for copies; the
 * store moves the bytes and tells, through its hooks, when a copy is
 * about to start (a prefetch takes its slot only then) and when it is
 * done.  An expert streamed without a slot (every slot pinned) is copied
 * to a scratch buffer of its layer's.  One lock guards the store and what
 * its hooks touch: calls marked "locked" are made holding it
 * (expert_store_lock), and the hooks run holding it.
 *
 * A device computing asynchronously may still read a slot after the host
 * has moved on: a slot computed from since the last expert_store_computed
 * is fenced (the mover waits for the computation) before a copy into it.
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
     * reading slots (a device computing asynchronously) */
    void (*fence)(void *ctx);
    void *ctx;
} expert_mover;

/* The CPU backend's mover: slots in host memory, experts read from w
 * (fp32), chunks copied by memcpy. */
expert_mover expert_mover_cpu(const exec_weights *w);

/* What the copy thread tells its owner, holding the lock: a copy's first
 * chunk is about to be copied (start returns 1 to copy it, 0 to withdraw
 * it), its last has been (done). */
typedef struct expert_store_hooks {
    int (*start)(void *ctx, int key);
    void (*done)(void *ctx, int key);
    void *ctx;
} expert_store_hooks;

typedef struct expert_store expert_store;

typedef struct expert_store_stats {
    int64_t copies;        /* experts copied whole */
    int64_t chunks, preemptions;
    int64_t withdrawn;     /* copies stopped before their last chunk */
    double bytes, copy_s;  /* moved, and the copy thread's time moving them */
    double wait_s;         /* time computing waited for copies */
    int64_t fences;        /* copies that waited for a computation to stop reading */
} expert_store_stats;

typedef struct expert_store_config {
    int num_layers, num_experts;
    int64_t capacity;     /* slots */
    int chunks;           /* pieces an expert is copied in (1..1024) */
    /* without, copies run whole in the order asked, as a copy engine
     * without priorities does */
    int preempt;
    int streaming;        /* also E scratch buffers, for experts streamed without a slot */
    expert_store_hooks hooks;
} expert_store_config;

/* A store for c; the mover's context and the hooks' must outlive it. */
expert_store *expert_store_create(const expert_mover *mv, const expert_store_config *c,
                                  promoe_err *err);
void expert_store_free(expert_store *s);

void expert_store_lock(expert_store *s);
void expert_store_unlock(expert_store *s);

/* locked: key takes the slot of victim (-1: a free one). */
void expert_store_place(expert_store *s, int key, int victim);
/* locked: key's slot is free. */
void expert_store_vacate(expert_store *s, int key);
/* locked: queues a copy of key at COPY_HIGH or COPY_LOW (LOW ones by
 * `order`, the target position); no effect if key is queued already. */
void expert_store_copy(expert_store *s, int key, int priority, int64_t order);
/* locked: a queued LOW copy becomes HIGH. */
void expert_store_promote(expert_store *s, int key);
/* locked: withdraws a LOW copy (a chunk in flight still ends); 1 if it was. */
int expert_store_drop(expert_store *s, int key);
/* locked: the key being copied, or -1; chunks of key copied. */
int expert_store_in_flight(expert_store *s);
int expert_store_chunks_done(expert_store *s, int key);
/* locked: when a copy queued now at priority (a LOW one for target
 * `order`) would end, in seconds from now, at the chunks' mean time so
 * far; one expert's copy at that time (both 0 before any chunk was
 * copied). */
double expert_store_copy_ahead_s(expert_store *s, int priority, int64_t order);
double expert_store_copy_s(expert_store *s);
/* locked: waits, the lock released meanwhile, until a copy makes progress;
 * the time counts as waiting.  -1 with err once a copy has failed. */
int expert_store_wait(expert_store *s, promoe_err *err);
/* locked: key's bytes (its slot, or its layer's scratch buffer when it has
 * none); key has computed from them (the device may still be reading). */
const void *expert_store_block(expert_store *s, int key);
void expert_store_used(expert_store *s, int key);
/* locked: every computation launched so far has ended (the host read its
 * results): slots computed from may take other experts without a fence. */
void expert_store_computed(expert_store *s);

/* Copies every placed expert now, whole (the cache's contents before
 * serving).  -1 with err when a copy fails. */
int expert_store_fill(expert_store *s, promoe_err *err);
/* The figures so far. */
expert_store_stats expert_store_stats_of(expert_store *s);
/* The median time of `reps` copies of `bytes` (at most a layer's experts)
 * from the experts, another layer each time, through the copy thread,
 * hand-over included: what `promoe profile` tabulates.  -1 with err when
 * memory runs out or a copy fails. */
double expert_store_time_copy(expert_store *s, size_t bytes, int reps, promoe_err *err);

#endif
