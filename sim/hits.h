/* hits.h - replaying a trace's expert accesses against a cache, without
 * timing (`promoe sim --hits-only`).  Tokens come one at a time (a
 * prefill's tokens each a step of its own), layers in order.
 *
 * Without a predictor: the plain access stream (NOTICE.md's convention):
 * a token's experts are accessed in rank order; a resident expert is a
 * hit, otherwise a miss, loaded in place of the policy's victim, which may
 * be any resident expert (nothing is pinned), so the figures are those of
 * the cache policy alone, as a reference cache simulator counts them.
 *
 * With a predictor: the decision engine (offload/engine.h), the one the
 * timed simulator and the executor run, on a clock where copies take no
 * time: a layer claims its resident experts before loading the others, the
 * predictor observes it and predicts the layer `stride` ahead, whose
 * prefetches arrive at once.  So prediction is never late here; the timed
 * replay says what it costs.
 *
 * Needs no model or hardware: L, E, K come from the trace.
 */
#ifndef PROMOE_SIM_HITS_H
#define PROMOE_SIM_HITS_H

#include <stdint.h>

#include "common/error.h"
#include "offload/config.h"

typedef struct sim_hits_config {
    /* the cache (slots, scope, policy) and, with a predictor ("none" or
     * NULL: none), its prefetch settings */
    offload_config offload;
    unsigned long seed;
} sim_hits_config;

typedef struct sim_hits_result {
    int64_t tokens, accesses, hits, misses, evictions;
    int64_t decode_accesses, decode_hits; /* those of decode tokens; the rest prefill's */
    int64_t prefetch_issued;   /* experts loaded by a prediction */
    int64_t prefetch_useful;   /* accesses served by an expert a prediction loaded */
    /* FNV-1a over every decision in order: equal digests, the same
     * decisions one by one */
    uint64_t digest;
    int64_t slots;             /* effective capacity */
} sim_hits_result;

int sim_hits_replay(const char *trace_path, const sim_hits_config *cfg, sim_hits_result *out,
                    promoe_err *err);
/* hits / accesses (0 before any access): of all tokens, of prefill tokens,
 * of decode tokens. */
double sim_hits_rate(const sim_hits_result *r);
double sim_hits_prefill_rate(const sim_hits_result *r);
double sim_hits_decode_rate(const sim_hits_result *r);

#endif
