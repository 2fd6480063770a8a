/* offload_clock.h - the executor's clock around the decision engine
 * (offload/engine.h): the model's layers and the copy thread's copies, as
 * they really happen, fed to the engine, which decides.  It is the
 * counterpart of sim/engine.c, which feeds the same engine the cost
 * model's events: every system the simulator times is the system the
 * executor runs.
 *
 * A step (offload_clock_begin_step) runs its layers in order.  At a
 * layer's router (offload_clock_gate) the engine hears the experts chosen
 * and asks for demand copies; the predictor, on a thread of its own
 * (exec/predictor_thread.h), off the critical path as the paper runs it,
 * observes the layer and predicts the layer `stride` ahead, whose
 * prefetches the engine queues when the prediction is ready.
 * Then the backend runs the layer's experts through offload_clock_source:
 * in the engine's order (with reorder, whichever is ready first), each
 * waiting for its copy; when the last has run the layer is done and the
 * next one begins.  The expert store's copy thread tells the engine when
 * a copy starts and ends.  One lock, the store's, guards the engine.
 *
 * With a log (offload/event_log.h) every event and answer is recorded, so
 * that a replay with no clock checks the run made the engine's decisions.
 */
#ifndef PROMOE_EXEC_OFFLOAD_CLOCK_H
#define PROMOE_EXEC_OFFLOAD_CLOCK_H

#include <stdint.h>

#include "common/error.h"
#include "exec/backend.h"
#include "exec/expert_store.h"
#include "offload/config.h"
#include "offload/engine.h"
#include "predictors/predictor.h"

struct offload_log;

typedef struct offload_clock_config {
    const offload_config *offload; /* must outlive the clock */
    int num_layers, num_experts, top_k, hidden_size;
    const predictor_ops *pops;     /* NULL: no prediction */
    void *pst;                     /* the predictor's state (the caller's) */
    struct offload_log *log;       /* records the run, or NULL */
} offload_clock_config;

typedef struct offload_clock offload_clock;

typedef struct offload_clock_stats {
    offload_counts counts;
    uint64_t digest;
    int64_t slots;
    expert_store_stats store;
    int64_t predictions;
    double predict_s;              /* the predictor's time, on its thread */
    double predict_wait_s;         /* the model's, waiting for the predictor to catch up */
} offload_clock_stats;

/* What of c's machinery the executor does not run, in words ("staging
 * buffers"), or NULL: whole layers offloaded, misses computed on the CPU,
 * low-precision loads, staging buffers, page-fault costs, loads on reach.  The one list:
 * offload_clock_create refuses what it names, and the command line asks it
 * before a run. */
const char *offload_clock_lacks(const offload_config *c);

/* A clock for c, its experts copied by mv; the cache's first contents
 * (static's fixed set) are copied before it returns. */
offload_clock *offload_clock_create(const offload_clock_config *c, const expert_mover *mv,
                                    promoe_err *err);
void offload_clock_free(offload_clock *k);

/* A step (an iteration of the model) begins: a decode step (1) or one that
 * prefills (0).  -1 with err when out of memory. */
int offload_clock_begin_step(offload_clock *k, int decode, promoe_err *err);
/* The router of layer r->layer chose r->experts for the step's r->tokens
 * tokens of `request`, at positions position, position + 1...  -1 with
 * err when out of memory. */
int offload_clock_gate(offload_clock *k, const exec_routing *r, int32_t request,
                       int32_t position, promoe_err *err);
/* Where the backend's routed experts come from. */
exec_expert_source offload_clock_source(offload_clock *k);
/* Time computing has waited for copies so far. */
double offload_clock_waited_s(offload_clock *k);
/* The figures at the end (prefetched experts never used counted wasted);
 * the engine hears of no copy after it. */
void offload_clock_finish(offload_clock *k, offload_clock_stats *out);

#endif
