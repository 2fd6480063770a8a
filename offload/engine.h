/* engine.h - the offload decision engine: one state machine that decides
 * what a system does with its expert cache, fed with events by a clock
 * and never reading one itself.  The simulator (sim/engine.c) feeds it the
 * cost model's events; the executor (exec/offload_clock.c) the real ones.
 *
 * Events, in the order a clock meets them:
 *  - a layer begins (offload_engine_begin_layer): the position step * L +
 *    layer that offline and prediction-aware policies read;
 *  - its router has chosen (offload_engine_gate): the layer's experts with
 *    their token counts and largest gate weights are demanded, resident
 *    ones claimed first so a miss never evicts an expert the layer uses;
 *    with reordering they are taken resident first, then the one being
 *    copied, then partly copied, then not started (the paper's order).  A
 *    resident expert is a hit, one being copied a late hit, the rest misses
 *    whose copies the engine asks for (HIGH), or computes on the CPU
 *    (cpu_compute), or copies in low precision (HOBBIT's lowbit_weight).
 *    Then the layer's predictions it did not choose are retired: staged
 *    ones free their buffers and, with preemption, queued or copying ones
 *    are withdrawn;
 *  - a prediction is made (offload_engine_pick: the experts worth a
 *    prefetch, and the policy told) and, after the predictor's time, is
 *    ready (offload_engine_prefetch): its resident experts are claimed and
 *    used (a prediction's use counts as the target's access, which the
 *    gate then does not count again), the others queued as LOW copies;
 *    with prefetch_by_gain (promoe-adaptive) only those whose expected
 *    gain beats their expected cost, in expert copies:
 *        q * gain  >  (1 - q) * (in_the_way + r_prefetch)
 *                     + q * max(0, r_prefetch - r_demand)
 *    where q is the predicted chance scaled by how right the predictor's
 *    chances have been (those chosen over those claimed, from 1 over 1);
 *    slack is the link time the clock says is free before the target's
 *    gate once this copy is done (ops.slack, less one per copy this
 *    prediction has queued); gain = clamp(1 + slack, 0, 1) is the part of
 *    the copy done before the gate (a right prefetch saves that much of a
 *    demand copy); in_the_way = clamp(-slack, 0, 1) the part still on the
 *    link when the target's own demands come (over the chunks per copy
 *    with preemption: a demand waits one chunk, and a wrong prefetch is
 *    withdrawn at its gate); r_prefetch and r_demand are the shares of the
 *    victims of prefetches and of demands wanted back within a step (from
 *    1 in 4): a wrong prefetch's eviction costs r_prefetch of a copy, a
 *    right one's what it costs over the eviction its demand would have
 *    made (staging: no eviction, both terms 0);
 *  - a copy is about to start (offload_engine_copy_start): only now does a
 *    prefetch take a slot (or a staging buffer), never evicting an expert
 *    its own prediction expects; a stale one (its layer has chosen) is
 *    dropped;
 *  - a copy ends (offload_engine_copy_done), a CPU computation ends
 *    (offload_engine_cpu_done), the layer has computed
 *    (offload_engine_layer_done).
 * What it asks of the clock goes through offload_clock_ops.  Keys are
 * layer * E + expert, positions step * L + layer.
 */
#ifndef PROMOE_OFFLOAD_ENGINE_H
#define PROMOE_OFFLOAD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "offload/config.h"
#include "policies/policy.h"
#include "predictors/predictor.h"

/* The decisions' counts. */
typedef struct offload_counts {
    int64_t demands, hits, late_hits, misses;
    int64_t uncached;            /* misses copied to a scratch buffer: every slot pinned */
    int64_t cpu_computed;        /* misses computed on the CPU instead of loaded */
    int64_t lowbit_loads;        /* misses loaded in low precision */
    /* (token, layer, expert) computations, and those done by a low-precision
     * copy: their ratio is the share of the model's expert work that ran in
     * low precision, HOBBIT's accuracy cost */
    int64_t expert_computations, lowbit_computations;
    int64_t prefetch_issued, prefetch_useful, prefetch_wasted, prefetch_late;
    /* withdrawn before arriving (early preemption, or no slot or staging
     * buffer when the copy would start); counted among the wasted too */
    int64_t prefetch_dropped;
    /* predicted experts not prefetched: not worth it (prefetch_by_gain) */
    int64_t prefetch_declined;
    int64_t evictions;
    /* the demands and hits of decode steps (offload_engine_set_phase): the
     * rest are prefill's */
    int64_t decode_demands, decode_hits;
} offload_counts;

/* The rates the counts give: hits a demand (in all, in prefill steps, in
 * decode steps); the share of expert work run in low precision; prefetches
 * used a prefetch issued (accuracy), used in time a prefetch used (fetch
 * rate), used in time a prefetch issued (GoodPred).  0 where nothing was
 * counted. */
typedef struct offload_rates {
    double hit_rate, prefill_hit_rate, decode_hit_rate;
    double lowbit_share, prefetch_accuracy, prefetch_fetch_rate, goodpred;
} offload_rates;

offload_rates offload_counts_rates(const offload_counts *n);

/* What the engine has its clock do. */
typedef struct offload_clock_ops {
    /* Queue a copy of key at priority COPY_HIGH or COPY_LOW (LOW ones by
     * `order`, the target position); lowbit: a low-precision copy, used
     * once.  No effect if key is queued or being copied already. */
    void (*copy)(void *ctx, int key, int priority, int64_t order, int lowbit);
    void (*promote)(void *ctx, int key);      /* a LOW copy becomes HIGH */
    int (*drop)(void *ctx, int key);          /* withdraw a LOW copy; 1 if it was */
    int (*in_flight)(void *ctx);              /* the key being copied, or -1 */
    int (*chunks_done)(void *ctx, int key);
    /* Compute missed key (for `tokens` tokens) on the CPU, if the system
     * does so now (cpu_compute); 1 if it will, offload_engine_cpu_done
     * following.  NULL: never. */
    int (*cpu_compute)(void *ctx, int key, int tokens);
    /* The link time free before the gate of position `when` once a
     * prefetch for it queued now is copied (negative: how late it would
     * end), in thousandths of one expert's copy (prefetch_by_gain needs
     * it; NULL: such a system is refused). */
    int64_t (*slack)(void *ctx, int64_t when);
    /* The cache's slots, for a clock that keeps real ones (NULL: it keeps
     * none): key takes the slot of victim (-1: a free one), before its
     * copy is asked for or starts; key's slot is free again.  Staging
     * buffers are not slots: such a clock refuses staging. */
    void (*place)(void *ctx, int key, int victim);
    void (*vacate)(void *ctx, int key);
    void *ctx;
} offload_clock_ops;

/* A clock's answer to ops.slack, reckoned from its own times (any one
 * unit): the running layer ends at layer_end or, if later, once the demand
 * copies queued land (demands_done; no later than now when none is) and
 * one of its experts has computed (expert); each of the layers_between
 * layers before the target's takes `layer`, and the target's gate comes
 * to_gate into it; a LOW copy queued now for it ends at copy_done.  Each
 * layer between also misses `misses` experts (offload_engine_misses_ahead),
 * whose demand copies go first on the link: they take min(layer, misses *
 * copy) of the link time a layer leaves the prefetch (what they take
 * beyond the layer's compute delays the gate as much as the prefetch).
 * Both clocks reckon so, the simulator from its cost model, the executor
 * from measured times. */
typedef struct offload_lead {
    double now, layer_end, demands_done, expert, layer, to_gate, copy_done;
    double copy;                 /* one expert's copy */
    double misses;               /* demand copies a layer between makes */
    int64_t layers_between;
} offload_lead;
/* In thousandths of a copy (negative: how late the copy would end). */
int64_t offload_lead_slack(const offload_lead *l);

/* A prediction for one target layer: keys[0..count) to prefetch, highest
 * first, then keys[count..predicted) those past the prefetch limit that it
 * makes more likely than not (predictor_expected); chance[i] is the chance
 * that keys[i] is chosen (predictor_chance), in OFFLOAD_CHANCE_ONE-ths, so
 * that a log holds it exactly.  keys and chance have room for E. */
#define OFFLOAD_CHANCE_ONE 65536
typedef struct offload_prediction {
    int64_t when;                /* the target's position */
    int count, predicted;
    int *keys, *chance;
} offload_prediction;

/* Room in p for a prediction over E experts (0, or -1 when out of memory);
 * offload_prediction_free releases it. */
int offload_prediction_alloc(offload_prediction *p, int E);
void offload_prediction_free(offload_prediction *p);

typedef struct offload_engine offload_engine;

/* An engine for the system c (read, not copied: it must outlive the
 * engine) on L layers of E experts, top-k; future for offline policies
 * (else NULL).  The cache starts with the policy's fixed set (static) or,
 * with preload, every expert. */
offload_engine *offload_engine_create(const offload_config *c, int L, int E, int K,
                                      const policy_future *future, const offload_clock_ops *ops,
                                      promoe_err *err);
void offload_engine_free(offload_engine *e);

void offload_engine_begin_layer(offload_engine *e, int64_t pos);
/* The steps from now on decode (1: every token a decode token) or prefill
 * (0: a step that prefills any request); the counts split by it.  Prefill
 * until said. */
void offload_engine_set_phase(offload_engine *e, int decode);
/* The position of the layer begun (-1 before the first). */
int64_t offload_engine_position(const offload_engine *e);
/* The demand copies the layers ahead are expected to make, each: the
 * running mean over this phase's (prefill or decode) recent gates, kept
 * where prefetch_by_gain asks for it (0 elsewhere). */
double offload_engine_misses_ahead(const offload_engine *e);

/* The router of the layer begun has chosen: experts[t * stride + k] is
 * token t's k-th expert (-1: none), weights likewise (NULL: unknown). */
void offload_engine_gate(offload_engine *e, const int16_t *experts, const float *weights,
                         size_t tokens, size_t stride);
/* The layer's demanded experts, in the order taken (after a gate). */
/* The running layer is about to compute key (in the order
 * offload_engine_layer_expert gives): loading on reach (the paper's
 * baselines), a missed expert's copy is asked for now, and the layer waits
 * for it; otherwise nothing happens. */
void offload_engine_reach(offload_engine *e, int key);
int offload_engine_layer_size(const offload_engine *e);
void offload_engine_layer_expert(const offload_engine *e, int i, int *key, int *tokens);
/* 1 if key can compute now (resident, streamed or computed on the CPU). */
int offload_engine_ready(const offload_engine *e, int key);
/* 1 if the CPU computed key for this layer (the GPU does not). */
int offload_engine_on_cpu(const offload_engine *e, int key);
void offload_engine_layer_done(offload_engine *e);

/* Asks the predictor about `layer`, `ahead` steps from the current one,
 * for a target of `tokens` tokens at position p->when, and fills p;
 * returns p->count (0: nothing to prefetch).  It reads none of the
 * engine's state (only its scratch), so a clock may run it beside the
 * other events, one prediction at a time. */
int offload_engine_predict(offload_engine *e, const predictor_ops *pops, void *pst, int ahead,
                           int layer, int tokens, offload_prediction *p);
/* offload_engine_predict, then the policy hears of it (offload_engine_predicted). */
int offload_engine_pick(offload_engine *e, const predictor_ops *pops, void *pst, int ahead,
                        int layer, int tokens, offload_prediction *p);
/* A prediction made elsewhere (a log's replay): the policy hears of it. */
void offload_engine_predicted(offload_engine *e, const offload_prediction *p);
/* The prediction p is ready (its predictor has run): its prefetches are
 * queued, unless its target's router has chosen already. */
void offload_engine_prefetch(offload_engine *e, const offload_prediction *p);

/* The clock is about to copy key's first chunk: 1 to copy it, 0 to
 * withdraw it (a prefetch without a slot, or stale). */
int offload_engine_copy_start(offload_engine *e, int key);
void offload_engine_copy_done(offload_engine *e, int key);
void offload_engine_cpu_done(offload_engine *e, int key);

/* At the end: prefetched experts never used count as wasted. */
void offload_engine_finish(offload_engine *e);
const offload_counts *offload_engine_counts(const offload_engine *e);
/* FNV-1a over every decision in order (each demand's outcome, eviction,
 * prefetch, drop and copy start): equal digests, the same decisions. */
uint64_t offload_engine_digest(const offload_engine *e);
/* Records every event and question from now on in log (offload/event_log.h);
 * NULL stops. */
struct offload_log;
void offload_engine_set_log(offload_engine *e, struct offload_log *log);
int64_t offload_engine_capacity(const offload_engine *e);

#endif
