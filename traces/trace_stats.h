/* trace_stats.h - what `promoe trace info` measures on a trace.
 *
 * Definitions (the ones tests check against hand-computed values):
 * - popularity skew of layer l: the Gini coefficient of its experts'
 *   selection counts (0 = uniform, -> 1 = one expert takes all) and the
 *   entropy of those counts divided by ln E (1 = uniform).
 * - next-token reuse: over decode tokens that have an earlier token of the
 *   same request, the share of the token's experts at each layer that the
 *   request's previous token also chose at that layer
 *   (sum of |S_t ∩ S_prev| over sum of |S_t|).
 * - cross-layer predictability: with co-occurrence counts C_l[e][e'] of
 *   expert e at layer l and e' at layer l+1 over the whole trace, the share
 *   of layer l+1's experts found among the |S_{l+1}| experts e' with the
 *   highest sum over e in S_l of C_l[e][e'] (fitted and scored on the same
 *   trace, so an in-sample upper estimate).
 * - popularity predictability: the same share for the |S_l| most frequent
 *   experts of layer l, the baseline the cross-layer figure should beat.
 * Missing entries (-1) are left out of every count.
 */
#ifndef PROMOE_TRACES_TRACE_STATS_H
#define PROMOE_TRACES_TRACE_STATS_H

#include <stdint.h>

#include "common/error.h"
#include "traces/trace.h"

typedef struct trace_stats {
    trace_meta meta;
    int64_t iterations;
    int64_t prefill_tokens, decode_tokens;
    int64_t missing;              /* (token, layer, rank) entries that are -1 */
    double *gini;                 /* [L] */
    double *entropy;              /* [L], normalised to [0, 1] */
    double reuse;                 /* next-token reuse, NaN if no pairs */
    double *reuse_layer;          /* [L] */
    int64_t reuse_tokens;         /* decode tokens with a previous token */
    double cross_layer;           /* NaN if L < 2 */
    double *cross_layer_layer;    /* [L-1]: predicting layer l+1 from l */
    double popularity;
} trace_stats;

/* Called now and then with the tokens processed so far out of `total`
 * (both passes count, so total is twice the trace's tokens). */
typedef void (*trace_stats_progress)(int64_t done, int64_t total);

/* Streams PATH twice and fills *s (which the caller frees); progress may
 * be NULL. */
int trace_stats_compute(const char *path, trace_stats *s, trace_stats_progress progress,
                        promoe_err *err);
void trace_stats_free(trace_stats *s);

#endif
