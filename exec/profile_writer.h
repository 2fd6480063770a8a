/* profile_writer.h - `promoe profile`: this machine's times for the
 * operations the simulator's cost model prices, measured on the executor,
 * written as the profile table sim/profile.h reads (format version 1).
 *
 * The attention, router, expert and shared-expert tables hold a step of
 * t = 1, 2, 4, ..., 64 tokens: measured where the backend takes a step's
 * tokens together (cpu), else t times one token's (cuda, which steps a
 * token at a time).  Attention is measured at two contexts for its
 * per-cached-token slope.  Transfers are copies through the backend's copy
 * path (the expert store's copy thread, hand-over included) of a chunk (a
 * third of an expert), an expert, and four experts.  Where a model with
 * every expert resident fits, whole steps are timed too: what they take
 * beyond their parts priced by the tables is the step's fixed cost
 * ("step_fixed": the output head, norms, residual adds, on a GPU the
 * launches and each layer's routing round trip to the host).
 */
#ifndef PROMOE_EXEC_PROFILE_WRITER_H
#define PROMOE_EXEC_PROFILE_WRITER_H

#include "common/error.h"
#include "exec/backend.h"
#include "exec/weights.h"

typedef struct exec_profile_config {
    int context;   /* cached tokens at the first attention point (the second: 4x) */
    int reps;      /* runs a point; the median is kept */
    const exec_backend_ops *backend;
} exec_profile_config;

/* Measures w's operations and writes the profile to path, atomically. */
int exec_profile_write(const exec_weights *w, const exec_profile_config *cfg, const char *path,
                       promoe_err *err);

#endif
