/* profile.h - measured cost tables (`--profile P.json`), which replace the
 * analytic model for the operations they cover.
 *
 * The file, as `promoe profile` writes it (format version 1):
 *   {"format": "promoe-profile", "version": 1, "model": "...", "device": "...",
 *    "attention": [[tokens, seconds], ...],      at the context given by
 *    "attention_context": c,                     (tokens cached when measured)
 *    "attention_start": [[tokens, seconds], ...], (optional) with none cached,
 *                                                as a prompt's first step
 *    "attention_per_context_s": s,               seconds per new token per
 *                                                further cached token
 *    "router": [[tokens, seconds], ...],
 *    "expert": [[tokens, seconds], ...],         one routed expert
 *    "shared_experts": [[tokens, seconds], ...], (optional)
 *    "transfer": [[bytes, seconds], ...],        host-to-device copies
 *    "step_fixed": [[tokens, seconds], ...]}     (optional) a step's cost
 *                                                beyond its parts: output
 *                                                head, norms, launches
 * Each table needs at least two points with increasing x.  Values between
 * points are interpolated linearly (GSL); beyond the ends, the end segment
 * is extended (never below 0).  Attention for t tokens after c cached ones
 * is attention(t) + attention_per_context_s * t * (c - attention_context);
 * below attention_context, where attention_start is given, the line between
 * attention_start(t) at 0 and attention(t) at attention_context instead:
 * the one-token slope, times t, overstates what t tokens that read the
 * cache together pay for it (a 64-token prompt's first step came out free).
 */
#ifndef PROMOE_SIM_PROFILE_H
#define PROMOE_SIM_PROFILE_H

#include <gsl/gsl_interp.h>

#include "common/error.h"

enum profile_op {
    PROFILE_ATTENTION,
    PROFILE_ROUTER,
    PROFILE_EXPERT,
    PROFILE_SHARED,
    PROFILE_TRANSFER,
    PROFILE_STEP_FIXED,
    PROFILE_ATTENTION_START,
    PROFILE_NUM_OPS
};

typedef struct profile_table {
    int n;          /* 0 when the file has no such table */
    double *x, *y;
    gsl_interp *interp;      /* built once at load */
    gsl_interp_accel *accel;
} profile_table;

typedef struct cost_profile {
    char model[64], device[128];
    profile_table op[PROFILE_NUM_OPS];
    double attention_context, attention_per_context_s;
} cost_profile;

/* Loads and checks PATH; errors name the file and the problem. */
int profile_load(const char *path, cost_profile *p, promoe_err *err);
void profile_free(cost_profile *p);

/* The table's value at x (interpolated or extended). */
double profile_eval(const profile_table *t, double x);

#endif
