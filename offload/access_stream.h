/* access_stream.h - the plain access stream with optional prediction: the
 * cache decisions `promoe sim --hits-only` counts and the executor carries
 * out, made by this one piece of code so that both make the same ones.
 *
 * Tokens come one at a time (a prefill's tokens each as a step of their
 * own), layers in order.  At a layer, the token's experts are accessed in
 * rank order: a resident expert is a hit; otherwise a miss, loaded in
 * place of the policy's victim (nothing is pinned, NOTICE.md's plain
 * stream).  Then, with a predictor, it observes the layer and predicts the
 * layer `stride` ahead (into the next token past the last layer): the
 * likeliest experts, at most `prefetch_limit`, are prefetched (loaded now,
 * evicting victims; an expert already resident counts as used), while the
 * current layer's experts are pinned so a prefetch cannot evict them.
 * The decisions are listed in the order made, for the caller to act on.
 */
#ifndef PROMOE_OFFLOAD_ACCESS_STREAM_H
#define PROMOE_OFFLOAD_ACCESS_STREAM_H

#include <stdint.h>

#include "common/error.h"
#include "offload/cache.h"
#include "offload/config.h"
#include "predictors/predictor.h"

typedef struct access_stream_config {
    /* the cache (slots, scope, policy) and prefetch settings (stride,
     * prefetch_limit, prefetch_min_prob) it reads; copied, its strings
     * must outlive the stream */
    const offload_config *offload;
    int num_layers, num_experts, top_k;
    const policy_future *future;  /* for offline policies, else NULL */
    const predictor_ops *pops;    /* NULL: no prediction */
    void *pst;                    /* the predictor's state (the caller's) */
} access_stream_config;

enum stream_decision_kind { STREAM_HIT, STREAM_MISS, STREAM_PREFETCH };

typedef struct stream_decision {
    int kind;
    int key;          /* layer * E + expert */
    int evicted;      /* the key whose slot it takes, or -1 */
    int64_t when;     /* the target's position: token * L + layer */
} stream_decision;

typedef struct access_stream_stats {
    int64_t tokens, accesses, hits, misses, evictions;
    int64_t prefetch_issued;       /* experts loaded by a prediction */
    int64_t prefetch_useful;    /* accesses served by an expert a prediction loaded */
    /* FNV-1a over every decision (kind, key, victim) in order: equal
     * digests mean the same decisions, one by one */
    uint64_t digest;
} access_stream_stats;

typedef struct access_stream access_stream;

access_stream *access_stream_create(const access_stream_config *cfg, promoe_err *err);
void access_stream_free(access_stream *s);

/* Loads the keys the policy wants resident from the start (static's fixed
 * set) and writes them to keys (room for L * E); returns how many. */
int access_stream_preload(access_stream *s, int *keys);

/* A new token begins. */
void access_stream_begin_token(access_stream *s);

/* One layer of the current token: obs holds one token (its experts in rank
 * order, -1 = none; weights and hidden state when known; the hidden state
 * is read only by a predictor).  Writes the decisions to out (room for
 * K + E) and returns how many. */
int access_stream_layer(access_stream *s, const predictor_obs *obs, stream_decision *out);

/* The accesses made so far, which is the index of the one being made when
 * a policy chooses a victim (for offline policies' futures). */
const int64_t *access_stream_access_index(const access_stream *s);
/* hits / accesses (0 before any access). */
double access_stream_hit_rate(const access_stream_stats *s);
const access_stream_stats *access_stream_stats_of(const access_stream *s);
int64_t access_stream_capacity(const access_stream *s);

#endif
