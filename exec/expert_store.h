/* expert_store.h - the executor's expert slots in "device" memory (on the
 * CPU backend, host memory standing in for the GPU's) and the copy worker
 * that fills them from the weights, a thread of its own as a copy engine
 * is.  Which expert a slot holds is the cache policy's decision (the same
 * expert_cache the simulator uses); the store only moves the bytes: an
 * expert in three chunks, one a matrix.
 */
#ifndef PROMOE_EXEC_EXPERT_STORE_H
#define PROMOE_EXEC_EXPERT_STORE_H

#include <stdint.h>

#include "common/error.h"
#include "exec/weights.h"

typedef struct expert_store expert_store;

typedef struct expert_store_stats {
    int64_t copies;
    double bytes, copy_s; /* moved, and the worker's time moving them */
} expert_store_stats;

/* Slots for `capacity` experts of w (which must outlive the store). */
expert_store *expert_store_create(const exec_weights *w, int64_t capacity, promoe_err *err);
void expert_store_free(expert_store *s);

/* Copies expert `key` (layer * E + expert) into the slot `evicted` held
 * (or a free one when evicted < 0), waits for the worker, and returns it. */
const float *expert_store_load(expert_store *s, int key, int evicted);
/* The slot holding key, which must have been loaded and not evicted. */
const float *expert_store_get(const expert_store *s, int key);
const expert_store_stats *expert_store_stats_of(const expert_store *s);
/* The median time of `reps` copies of `bytes` (in 3 chunks; at most a
 * layer's experts) from the weights, another layer and expert each time,
 * through the worker, hand-over included: what `promoe profile`
 * tabulates.  -1 when out of memory. */
double expert_store_time_copy(expert_store *s, size_t bytes, int reps);

#endif
