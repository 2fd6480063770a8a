#include "sim/hits.h"

#include <stdlib.h>
#include <string.h>

#include "offload/access_stream.h"
#include "offload/next_use.h"
#include "traces/trace.h"

/* Next-use knowledge for offline policies: positions are access indices. */
typedef struct future_index {
    next_use uses;
    const int64_t *now;  /* the access being replayed (the stream's count) */
} future_index;

static int64_t next_access(void *ctx, int key)
{
    future_index *f = ctx;
    return next_use_from(&f->uses, key, *f->now);
}

/* Two passes over the trace: count each key's accesses, then list them. */
static int build_future(trace_reader *r, future_index *f, promoe_err *err)
{
    const trace_meta *m = trace_reader_meta(r);
    size_t lk = (size_t)m->num_layers * m->top_k;
    if (next_use_init(&f->uses, m->num_layers * m->num_experts) < 0)
        return promoe_err_set(err, "out of memory indexing accesses for an offline policy");
    int got = 0;
    for (int pass = 0; pass < 2 && got == 0; pass++) {
        trace_iteration it;
        int64_t i = 0;
        while ((got = trace_read_iteration(r, &it, err)) > 0)
            for (size_t j = 0; j < it.num_tokens * lk; j++) {
                if (it.experts[j] < 0)
                    continue;
                int key = (int)((j % lk) / (size_t)m->top_k) * m->num_experts + it.experts[j];
                if (pass == 0)
                    next_use_count(&f->uses, key);
                else
                    next_use_add(&f->uses, key, i++);
            }
        trace_reader_rewind(r);
        if (got == 0 && pass == 0 && next_use_layout(&f->uses) < 0)
            return promoe_err_set(err, "out of memory indexing accesses for an offline policy");
    }
    next_use_ready(&f->uses);
    return got;
}

int sim_hits_replay(const char *trace_path, const sim_hits_config *cfg, sim_hits_result *out,
                    promoe_err *err)
{
    memset(out, 0, sizeof *out);
    const predictor_ops *pops = NULL;
    if (cfg->offload.predictor && strcmp(cfg->offload.predictor, "none") != 0) {
        if (!(pops = predictor_find(cfg->offload.predictor)))
            return promoe_err_set(err, "unknown predictor '%s' (predictors: %s)", cfg->offload.predictor,
                                  predictor_names());
        if (pops->needs_future)
            return promoe_err_set(err, "predictor %s reads the future, which the access stream "
                                  "does not give; replay it without --hits-only", pops->name);
    }
    trace_reader *r = trace_reader_open(trace_path, pops && pops->needs_hidden ? TRACE_HIDDEN : 0,
                                        err);
    if (!r)
        return pops && pops->needs_hidden ? promoe_err_prefix(err, "predictor %s", pops->name)
                                          : -1;
    const trace_meta *m = trace_reader_meta(r);
    int L = m->num_layers, E = m->num_experts, K = m->top_k, D = m->hidden_dim;
    future_index fut = {0};
    policy_future future = {next_access, &fut};
    access_stream *st = NULL;
    void *pst = NULL;
    int *keys = NULL;
    stream_decision *decisions = NULL;
    int rc = -1;
    const cache_policy_ops *ops = policy_find(cfg->offload.policy);
    if (ops && ops->needs_future && build_future(r, &fut, err) < 0)
        goto out;
    predictor_env penv = {.stride_lo = cfg->offload.stride, .stride_hi = cfg->offload.stride, .seed = cfg->seed};
    if (pops && !(pst = predictor_create_for_trace(pops, cfg->offload.predictor_options, r, trace_path,
                                                   &penv, err)))
        goto out;
    access_stream_config sc = {.offload = &cfg->offload, .num_layers = L, .num_experts = E,
                               .top_k = K, .future = ops && ops->needs_future ? &future : NULL,
                               .pops = pops, .pst = pst};
    if (!(st = access_stream_create(&sc, err)))
        goto out;
    fut.now = access_stream_access_index(st);
    out->slots = access_stream_capacity(st);
    keys = malloc((size_t)L * (size_t)E * sizeof *keys);
    decisions = malloc((size_t)(K + E) * sizeof *decisions);
    if (!keys || !decisions) {
        promoe_err_set(err, "out of memory");
        goto out;
    }
    access_stream_preload(st, keys); /* a policy's fixed set (static), before the replay */
    trace_iteration it;
    int got;
    while ((got = trace_read_iteration(r, &it, err)) > 0) {
        for (size_t t = 0; t < it.num_tokens; t++) {
            access_stream_begin_token(st);
            for (int l = 0; l < L; l++) {
                size_t row = t * (size_t)L + (size_t)l;
                predictor_obs obs = {
                    .layer = l, .num_tokens = 1, .request = it.request + t,
                    .position = it.position + t, .experts = it.experts + row * (size_t)K,
                    .weights = it.weights ? it.weights + row * (size_t)K : NULL,
                    .hidden = it.hidden ? it.hidden + row * (size_t)D : NULL};
                access_stream_layer(st, &obs, decisions);
            }
        }
    }
    if (got < 0)
        goto out;
    out->stream = *access_stream_stats_of(st);
    rc = 0;
out:
    free(keys);
    free(decisions);
    access_stream_free(st);
    if (pst)
        pops->destroy(pst);
    next_use_free(&fut.uses);
    trace_reader_close(r);
    return rc;
}
