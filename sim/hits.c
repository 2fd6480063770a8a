#include "sim/hits.h"

#include <stdlib.h>
#include <string.h>

#include "sim/cache.h"
#include "sim/next_use.h"
#include "traces/trace.h"

/* Next-use knowledge for offline policies: positions are access indices. */
typedef struct future_index {
    next_use uses;
    int64_t now;      /* the access being replayed */
} future_index;

static int64_t next_access(void *ctx, int key)
{
    future_index *f = ctx;
    return next_use_from(&f->uses, key, f->now);
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
    trace_reader *r = trace_reader_open(trace_path, 0, err);
    if (!r)
        return -1;
    const trace_meta *m = trace_reader_meta(r);
    int L = m->num_layers, E = m->num_experts, K = m->top_k;
    future_index fut = {0};
    policy_future future = {next_access, &fut};
    expert_cache *c = NULL;
    int rc = -1;
    const cache_policy_ops *ops = policy_find(cfg->policy);
    if (ops && ops->needs_future && build_future(r, &fut, err) < 0)
        goto out;
    cache_config cc = {.num_layers = L, .num_experts = E, .slots = cfg->slots,
                       .per_layer = cfg->per_layer, .policy = cfg->policy,
                       .policy_options = cfg->policy_options,
                       .future = ops && ops->needs_future ? &future : NULL};
    if (!(c = cache_create(&cc, err)))
        goto out;
    out->slots = cache_capacity(c);
    /* a policy's fixed set (static) is resident before the replay starts */
    if (cache_preload(c) < 0) {
        promoe_err_set(err, "out of memory");
        goto out;
    }
    trace_iteration it;
    int got;
    int64_t i = 0;
    while ((got = trace_read_iteration(r, &it, err)) > 0) {
        for (size_t t = 0; t < it.num_tokens; t++) {
            out->tokens++;
            for (int l = 0; l < L; l++) {
                const int16_t *ex = it.experts + (t * (size_t)L + (size_t)l) * (size_t)K;
                for (int k = 0; k < K; k++) {
                    if (ex[k] < 0)
                        continue;
                    int evicted;
                    fut.now = i++;
                    out->accesses++;
                    if (cache_access(c, l * E + ex[k], &evicted)) {
                        out->hits++;
                    } else {
                        out->misses++;
                        out->evictions += evicted >= 0;
                    }
                }
            }
        }
    }
    if (got < 0)
        goto out;
    out->hit_rate = out->accesses ? (double)out->hits / (double)out->accesses : 0.0;
    rc = 0;
out:
    cache_free(c);
    next_use_free(&fut.uses);
    trace_reader_close(r);
    return rc;
}
