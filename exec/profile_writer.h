/* profile_writer.h - `promoe profile`: this machine's times for the
 * operations the simulator's cost model prices, measured on the executor,
 * written as the profile table sim/profile.h reads (format version 1).
 *
 * The backends run tokens one at a time, so t tokens cost t times one
 * token's measured time in the attention, router, expert and shared-expert
 * tables (t = 1, 2, 4, ..., 64).  Attention is measured at two contexts
 * for its per-cached-token slope.  Transfers are copies through the
 * backend's copy path (the expert store's copy thread, hand-over included)
 * of a chunk (a third of an expert), an expert, and four experts.
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
