#include "predictors/predictor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/registry.h"
#include "common/topk.h"

extern const predictor_ops predictor_none, predictor_oracle, predictor_prev_token,
    predictor_popularity, predictor_cross_layer, predictor_gate_reuse, predictor_eam,
    predictor_learned, predictor_ensemble;

/* The registry: one line per predictor. */
const predictor_ops *const predictor_registry[] = {
    &predictor_none,
    &predictor_oracle,
    &predictor_prev_token,
    &predictor_popularity,
    &predictor_cross_layer,
    &predictor_gate_reuse,
    &predictor_eam,
    &predictor_learned,
    &predictor_ensemble,
    NULL,
};

const predictor_ops *predictor_find(const char *name)
{
    return registry_find((const void *const *)predictor_registry, name);
}

const char *predictor_names(void)
{
    static char buf[256];
    if (!buf[0])
        registry_names((const void *const *)predictor_registry, buf, sizeof buf);
    return buf;
}

void *predictor_create_for_trace(const predictor_ops *ops, const char *options,
                                 trace_reader *r, const char *path, const predictor_env *base,
                                 promoe_err *err)
{
    const trace_meta *m = trace_reader_meta(r);
    predictor_env env = *base;
    env.num_layers = m->num_layers;
    env.num_experts = m->num_experts;
    env.top_k = m->top_k;
    env.hidden_dim = m->hidden_dim;
    env.router_weight = NULL;
    if (ops->needs_hidden && m->hidden_layer_stride > 1) {
        promoe_err_set(err, "%s: predictor %s needs every layer's hidden state, and the trace "
                       "holds one layer in %d (record it with --record-hidden, every layer)", path,
                       ops->name, m->hidden_layer_stride);
        return NULL;
    }
    if (ops->needs_hidden && !(env.router_weight = trace_reader_router_weight(r, err))) {
        if (!(m->content & TRACE_ROUTER_WEIGHT))
            promoe_err_set(err, "%s: predictor %s needs the router weights (model/router_weight)",
                           path, ops->name);
        return NULL;
    }
    return ops->create(&env, options, err);
}

int predictor_pick(const predictor_ops *ops, void *st, int ahead, int layer, int E, int K,
                   int limit, double min_prob, double *scores, int *ranked)
{
    ops->predict(st, ahead, layer, scores);
    double total = predictor_score_total(scores, E);
    int n = 0;
    for (int x = 0; x < E; x++) {
        if (scores[x] > 0 && K * scores[x] < min_prob * total)
            scores[x] = 0; /* not likely enough to be worth a transfer */
        n += scores[x] > 0;
    }
    if (n == 0)
        return 0;
    if (n > limit)
        n = limit;
    topk_select(scores, E, n, ranked);
    return n;
}

double predictor_score_total(const double *scores, int E)
{
    double total = 0;
    for (int x = 0; x < E; x++)
        total += scores[x] > 0 ? scores[x] : 0;
    return total;
}

double predictor_chance(double score, double total, int K, int tokens)
{
    double p = score > 0 && total > 0 ? (double)K * score / total : 0;
    return p >= 1 ? 1 : 1 - pow(1 - p, tokens);
}

int predictor_expected(const double *scores, int E, int K, int tokens, int *out)
{
    double total = predictor_score_total(scores, E);
    int n = 0;
    for (int x = 0; x < E; x++)
        if (scores[x] > 0 && predictor_chance(scores[x], total, K, tokens) >= 0.5)
            out[n++] = x;
    return n;
}

predictor_info predictor_get_info(const predictor_ops *ops, void *st)
{
    predictor_info info = {0};
    if (ops->info)
        ops->info(st, &info);
    return info;
}

/* Copies row `layer` of each of n [L][width] blocks into dst [n][width]. */
static void gather(void *dst, const void *src, size_t n, int L, int layer, size_t row_bytes)
{
    for (size_t t = 0; t < n; t++)
        memcpy((char *)dst + t * row_bytes,
               (const char *)src + (t * (size_t)L + (size_t)layer) * row_bytes, row_bytes);
}

int predictor_obs_fill(predictor_obs_buf *buf, predictor_obs *obs, int layer, size_t n, int L,
                       int K, int D, const int32_t *request, const int32_t *position,
                       const int16_t *experts, const float *hidden)
{
    if (n > buf->ids_cap) {
        int16_t *p = realloc(buf->ids, n * (size_t)K * sizeof *p);
        if (!p)
            return -1;
        buf->ids = p;
        buf->ids_cap = n;
    }
    if (hidden && n > buf->hidden_cap) {
        float *h = realloc(buf->hidden, n * (size_t)D * sizeof *h);
        if (!h)
            return -1;
        buf->hidden = h;
        buf->hidden_cap = n;
    }
    gather(buf->ids, experts, n, L, layer, (size_t)K * sizeof *buf->ids);
    if (hidden)
        gather(buf->hidden, hidden, n, L, layer, (size_t)D * sizeof *buf->hidden);
    *obs = (predictor_obs){.layer = layer, .num_tokens = n, .request = request,
                           .position = position, .experts = buf->ids,
                           .hidden = hidden ? buf->hidden : NULL};
    return 0;
}

void predictor_obs_buf_free(predictor_obs_buf *buf)
{
    free(buf->ids);
    free(buf->hidden);
    memset(buf, 0, sizeof *buf);
}

int predictor_hidden_keep(predictor_hidden *k, const predictor_obs *obs, int D)
{
    if (!obs->hidden)
        return -1;
    if (obs->num_tokens > k->cap) {
        float *h = realloc(k->rows, obs->num_tokens * (size_t)D * sizeof *h);
        if (!h)
            return -1;
        k->rows = h;
        k->cap = obs->num_tokens;
    }
    memcpy(k->rows, obs->hidden, obs->num_tokens * (size_t)D * sizeof *k->rows);
    k->n = obs->num_tokens;
    return 0;
}

void predictor_hidden_free(predictor_hidden *k)
{
    free(k->rows);
    memset(k, 0, sizeof *k);
}
