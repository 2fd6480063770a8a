/* hits.h - replaying a trace's expert accesses against a cache, without
 * timing (`promoe sim --hits-only`).
 *
 * Accesses are taken token by token, layer by layer, experts in rank order,
 * as a plain access stream (NOTICE.md's convention; offload/access_stream.h,
 * which the executor also runs): a resident expert is a hit; otherwise a
 * miss, and the expert is loaded, evicting the policy's victim, which may
 * be any resident expert.  (The timed simulator also pins the running
 * layer's experts; here nothing is pinned, so the figures are those of the
 * cache policy alone.)  With a predictor, each layer's prediction of the
 * layer `stride` ahead is prefetched as the stream defines.  Needs no model
 * or hardware: L, E, K come from the trace.
 */
#ifndef PROMOE_SIM_HITS_H
#define PROMOE_SIM_HITS_H

#include <stdint.h>

#include "common/error.h"
#include "offload/access_stream.h"

typedef struct sim_hits_config {
    /* the cache (slots, scope, policy) and, with a predictor ("none" or
     * NULL: none), the stream's prefetch switches */
    offload_config offload;
    unsigned long seed;
} sim_hits_config;

typedef struct sim_hits_result {
    access_stream_stats stream;  /* the decisions' counts and digest */
    int64_t slots;               /* effective capacity */
} sim_hits_result;

int sim_hits_replay(const char *trace_path, const sim_hits_config *cfg, sim_hits_result *out,
                    promoe_err *err);

#endif
