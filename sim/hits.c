#include "sim/hits.h"

#include <stdlib.h>
#include <string.h>

#include "sim/cache.h"
#include "traces/trace.h"

/* Next-use knowledge for offline policies: next[i] is the index of the
 * access after access i to the same expert; key_next[k] the next use of k
 * after its latest access. */
typedef struct future_index {
    int64_t *next;
    int64_t *key_next;
} future_index;

static int64_t next_use(void *ctx, int key)
{
    return ((future_index *)ctx)->key_next[key];
}

/* One pass over the trace to link each access to the next of its key. */
static int build_future(trace_reader *r, future_index *f, promoe_err *err)
{
    const trace_meta *m = trace_reader_meta(r);
    size_t keys = (size_t)m->num_layers * m->num_experts;
    size_t lk = (size_t)m->num_layers * m->top_k;
    size_t max_accesses = (size_t)m->num_tokens * lk;
    int64_t *last = malloc(keys * sizeof *last);
    f->next = malloc((max_accesses + 1) * sizeof *f->next);
    f->key_next = malloc(keys * sizeof *f->key_next);
    if (!last || !f->next || !f->key_next) {
        free(last);
        return promoe_err_set(err, "out of memory indexing %zu accesses for an offline policy",
                              max_accesses);
    }
    for (size_t k = 0; k < keys; k++)
        last[k] = -1;
    trace_iteration it;
    int got;
    int64_t i = 0;
    while ((got = trace_read_iteration(r, &it, err)) > 0)
        for (size_t j = 0; j < it.num_tokens * lk; j++) {
            int e = it.experts[j];
            if (e < 0)
                continue;
            int key = (int)((j % lk) / (size_t)m->top_k) * m->num_experts + e;
            f->next[i] = POLICY_NEVER;
            if (last[key] >= 0)
                f->next[last[key]] = i;
            last[key] = i++;
        }
    free(last);
    trace_reader_rewind(r);
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
    policy_future future = {next_use, &fut};
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
    int *initial = malloc((size_t)L * (size_t)E * sizeof *initial);
    if (!initial) {
        promoe_err_set(err, "out of memory");
        goto out;
    }
    int n_initial = cache_initial_keys(c, initial);
    for (int i = 0; i < n_initial; i++) {
        int evicted;
        cache_load(c, initial[i], &evicted);
    }
    free(initial);
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
                    int key = l * E + ex[k], evicted;
                    if (fut.next)
                        fut.key_next[key] = fut.next[i];
                    i++;
                    out->accesses++;
                    if (cache_resident(c, key)) {
                        out->hits++;
                        cache_use(c, key);
                    } else {
                        out->misses++;
                        cache_load(c, key, &evicted); /* nothing is pinned */
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
    free(fut.next);
    free(fut.key_next);
    trace_reader_close(r);
    return rc;
}
