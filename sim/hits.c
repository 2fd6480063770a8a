#include "sim/hits.h"

#include <stdlib.h>
#include <string.h>

#include "common/fnv1a.h"
#include "offload/cache.h"
#include "offload/copy_engine.h"
#include "offload/engine.h"
#include "offload/next_use.h"
#include "traces/trace.h"

/* One pass over the trace: every access, in order (positions are access
 * indices). */
static int build_future(trace_reader *r, next_use_clock *f, promoe_err *err)
{
    const trace_meta *m = trace_reader_meta(r);
    size_t lk = (size_t)m->num_layers * m->top_k;
    if (next_use_init(&f->uses, m->num_layers * m->num_experts, m->num_tokens * (int64_t)lk,
                      NEXT_USE_DENSE) < 0)
        return promoe_err_set(err, "out of memory indexing accesses for an offline policy");
    trace_iteration it;
    int got;
    while ((got = trace_read_iteration(r, &it, err)) > 0)
        for (size_t j = 0; j < it.num_tokens * lk; j++)
            if (it.experts[j] >= 0)
                next_use_add(&f->uses,
                             (int)((j % lk) / (size_t)m->top_k) * m->num_experts + it.experts[j],
                             0);
    trace_reader_rewind(r);
    next_use_ready(&f->uses);
    return got;
}

/* The plain stream's decisions, as the digest takes them. */
enum { PLAIN_HIT, PLAIN_MISS };

/* One layer of one token, experts in rank order (-1: none). */
static void plain_layer(expert_cache *c, int64_t *now_pos, int64_t pos, const int16_t *experts,
                        int layer, int E, int K, int decode, sim_hits_result *r)
{
    *now_pos = pos;
    for (int k = 0; k < K; k++) {
        if (experts[k] < 0)
            continue;
        int key = layer * E + experts[k], evicted = -1;
        int hit = cache_resident(c, key);
        if (hit)
            cache_use(c, key);
        else /* r->accesses: this one's index, for offline policies */
            cache_load(c, key, &evicted);
        r->accesses++;
        r->hits += hit;
        r->decode_accesses += decode;
        r->decode_hits += decode && hit;
        r->misses += !hit;
        r->evictions += evicted >= 0;
        int32_t v[3] = {hit ? PLAIN_HIT : PLAIN_MISS, key, evicted};
        r->digest = fnv1a(r->digest, v, sizeof v);
    }
}

static int replay_plain(trace_reader *rd, const sim_hits_config *cfg, sim_hits_result *out,
                        promoe_err *err)
{
    const trace_meta *m = trace_reader_meta(rd);
    int L = m->num_layers, E = m->num_experts, K = m->top_k;
    next_use_clock fut = {.now = &out->accesses};
    policy_future future = next_use_clock_future(&fut);
    int64_t now_pos = -1;
    expert_cache *c = NULL;
    int *keys = NULL, rc = -1;
    const cache_policy_ops *ops = policy_find(cfg->offload.policy);
    if (ops && ops->needs_future && build_future(rd, &fut, err) < 0)
        goto out;
    cache_config cc = offload_cache_config(&cfg->offload, L, E);
    cc.future = ops && ops->needs_future ? &future : NULL;
    cc.clock = &now_pos;
    if (!(c = cache_create(&cc, err)))
        goto out;
    out->slots = cache_capacity(c);
    if (!(keys = malloc((size_t)L * (size_t)E * sizeof *keys))) {
        promoe_err_set(err, "out of memory");
        goto out;
    }
    cache_preload(c, keys); /* a policy's fixed set (static), before the replay */
    trace_iteration it;
    int got;
    while ((got = trace_read_iteration(rd, &it, err)) > 0)
        for (size_t t = 0; t < it.num_tokens; t++, out->tokens++)
            for (int l = 0; l < L; l++)
                plain_layer(c, &now_pos, out->tokens * L + l,
                            it.experts + (t * (size_t)L + (size_t)l) * (size_t)K, l, E, K,
                            it.phase[t] == TRACE_DECODE, out);
    rc = got < 0 ? -1 : 0;
out:
    free(keys);
    cache_free(c);
    next_use_free(&fut.uses);
    return rc;
}

/* The decision engine on a clock where copies take no time: each copy is
 * finished as soon as the event that asked for it has been handled. */
typedef struct zero_clock {
    copy_engine *ce;
    offload_engine *oe;
} zero_clock;

static void zero_copy(void *ctx, int key, int priority, int64_t order, int lowbit)
{
    (void)lowbit; /* the same copy, for counting */
    zero_clock *z = ctx;
    copy_engine_submit(z->ce, key, priority, order);
}

static void zero_promote(void *ctx, int key)
{
    zero_clock *z = ctx;
    copy_engine_promote(z->ce, key);
}

static int zero_drop(void *ctx, int key)
{
    zero_clock *z = ctx;
    return copy_engine_drop(z->ce, key);
}

static int zero_in_flight(void *ctx)
{
    zero_clock *z = ctx;
    return copy_engine_in_flight(z->ce);
}

static int zero_chunks_done(void *ctx, int key)
{
    zero_clock *z = ctx;
    return copy_engine_chunks_done(z->ce, key);
}

/* Copies take no time: every prefetch arrives long before its gate. */
static int64_t zero_slack(void *ctx, int64_t when)
{
    (void)ctx, (void)when;
    return INT32_MAX;
}

static int zero_starts(void *ctx, int key)
{
    zero_clock *z = ctx;
    return offload_engine_copy_start(z->oe, key);
}

/* Finishes every copy asked for, chunk by chunk, in the copy engine's order. */
static void zero_drain(zero_clock *z)
{
    while (copy_engine_in_flight(z->ce) >= 0) {
        int finished;
        copy_engine_chunk_done(z->ce, &finished);
        if (finished >= 0)
            offload_engine_copy_done(z->oe, finished);
    }
}

static int replay_engine(trace_reader *rd, const sim_hits_config *cfg, const predictor_ops *pops,
                         void *pst, sim_hits_result *out, promoe_err *err)
{
    const trace_meta *m = trace_reader_meta(rd);
    int L = m->num_layers, E = m->num_experts, K = m->top_k, D = m->hidden_dim;
    const offload_config *oc = &cfg->offload;
    if (oc->stride < 1)
        return promoe_err_set(err, "stride %d must be at least 1", oc->stride);
    const cache_policy_ops *pol = policy_find(oc->policy);
    if (pol && pol->needs_future)
        return promoe_err_set(err, "policy %s with a predictor: the future it reads is the timed "
                              "replay's, so drop --hits-only", oc->policy);
    zero_clock z = {.ce = copy_engine_create(L * E, oc->chunks > 0 ? oc->chunks : 1, 0, 1,
                                             oc->preempt)};
    offload_clock_ops ops = {.copy = zero_copy, .promote = zero_promote, .drop = zero_drop,
                             .in_flight = zero_in_flight, .chunks_done = zero_chunks_done,
                             .slack = zero_slack, .ctx = &z};
    offload_prediction pred;
    int rc = -1;
    if (offload_prediction_alloc(&pred, E) < 0 || !z.ce) {
        promoe_err_set(err, "out of memory");
        goto out;
    }
    copy_engine_set_start_hook(z.ce, zero_starts, &z);
    if (!(z.oe = offload_engine_create(oc, L, E, K, NULL, &ops, err)))
        goto out;
    out->slots = offload_engine_capacity(z.oe);
    trace_iteration it;
    int got;
    while ((got = trace_read_iteration(rd, &it, err)) > 0)
        for (size_t t = 0; t < it.num_tokens; t++, out->tokens++) {
            pops->begin_iteration(pst);
            offload_engine_set_phase(z.oe, it.phase[t] == TRACE_DECODE);
            for (int l = 0; l < L; l++) {
                size_t row = t * (size_t)L + (size_t)l;
                predictor_obs obs = {
                    .layer = l, .num_tokens = 1, .request = it.request + t,
                    .position = it.position + t, .experts = it.experts + row * (size_t)K,
                    .weights = it.weights ? it.weights + row * (size_t)K : NULL,
                    .hidden = it.hidden ? it.hidden + row * (size_t)D : NULL};
                offload_engine_begin_layer(z.oe, out->tokens * L + l);
                offload_engine_gate(z.oe, obs.experts, obs.weights, 1, (size_t)K);
                zero_drain(&z);
                pops->observe(pst, &obs);
                int target = l + oc->stride, ahead = target / L;
                pred.when = (out->tokens + ahead) * L + target % L;
                if (ahead <= 1 &&
                    offload_engine_pick(z.oe, pops, pst, ahead, target % L, 1, &pred) > 0) {
                    offload_engine_prefetch(z.oe, &pred);
                    zero_drain(&z);
                }
                offload_engine_layer_done(z.oe);
            }
        }
    if (got < 0)
        goto out;
    offload_engine_finish(z.oe);
    const offload_counts *n = offload_engine_counts(z.oe);
    out->accesses = n->demands;
    out->hits = n->hits + n->late_hits; /* none is late where copies take no time */
    out->decode_accesses = n->decode_demands;
    out->decode_hits = n->decode_hits;
    out->misses = n->misses;
    out->evictions = n->evictions;
    out->prefetch_issued = n->prefetch_issued;
    out->prefetch_useful = n->prefetch_useful;
    out->digest = offload_engine_digest(z.oe);
    rc = 0;
out:
    offload_engine_free(z.oe);
    copy_engine_free(z.ce);
    offload_prediction_free(&pred);
    return rc;
}

int sim_hits_replay(const char *trace_path, const sim_hits_config *cfg, sim_hits_result *out,
                    promoe_err *err)
{
    memset(out, 0, sizeof *out);
    out->digest = FNV1A_START;
    const predictor_ops *pops = NULL;
    if (cfg->offload.predictor && strcmp(cfg->offload.predictor, "none") != 0) {
        if (!(pops = predictor_find(cfg->offload.predictor)))
            return promoe_err_set(err, "unknown predictor '%s' (predictors: %s)",
                                  cfg->offload.predictor, predictor_names());
        if (pops->needs_future)
            return promoe_err_set(err, "predictor %s reads the future, which a replay token by "
                                  "token does not give; drop --hits-only", pops->name);
    }
    trace_reader *r = trace_reader_open(trace_path, pops && pops->needs_hidden ? TRACE_HIDDEN : 0,
                                        err);
    if (!r)
        return pops && pops->needs_hidden ? promoe_err_prefix(err, "predictor %s", pops->name)
                                          : -1;
    void *pst = NULL;
    int rc = -1;
    predictor_env penv = {.stride_lo = cfg->offload.stride, .stride_hi = cfg->offload.stride,
                          .seed = cfg->seed};
    if (!pops)
        rc = replay_plain(r, cfg, out, err);
    else if ((pst = predictor_create_for_trace(pops, cfg->offload.predictor_options, r,
                                               trace_path, &penv, err)))
        rc = replay_engine(r, cfg, pops, pst, out, err);
    if (pst)
        pops->destroy(pst);
    trace_reader_close(r);
    return rc;
}

static double share(int64_t part, int64_t whole)
{
    return whole ? (double)part / (double)whole : 0;
}

double sim_hits_rate(const sim_hits_result *r)
{
    return share(r->hits, r->accesses);
}

double sim_hits_prefill_rate(const sim_hits_result *r)
{
    return share(r->hits - r->decode_hits, r->accesses - r->decode_accesses);
}

double sim_hits_decode_rate(const sim_hits_result *r)
{
    return share(r->decode_hits, r->decode_accesses);
}
