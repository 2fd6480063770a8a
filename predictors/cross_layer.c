/* cross_layer.c - expert affinity across layers (the idea behind ExFlow and
 * MoE-Infinity's activation statistics): counts of expert e at layer l and
 * expert e' at layer l+s chosen by the same token, learned online; layer
 * l+s is predicted from layer l's choices by summing their rows.  Works on
 * traces with expert ids only.  Targets in the next iteration, and strides
 * beyond max_stride (option, default 4), fall back to layer popularity. */
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "predictors/predictor.h"

typedef struct cross_layer {
    int L, E, K, S;
    double *cooc;        /* [L][S][E][E]: layer l, stride s (1..S), e -> e' */
    double *count;       /* [L][E] */
    int16_t *cur;        /* [n][L][K]: this step's experts so far */
    size_t cur_cap, cur_n;
    int last_layer;      /* latest layer observed in this step, -1 before */
} cross_layer;

static void cl_destroy(void *st)
{
    cross_layer *c = st;
    free(c->cooc);
    free(c->count);
    free(c->cur);
    free(c);
}

static int set_option(void *ctx, const char *key, const char *value, promoe_err *err)
{
    if (strcmp(key, "max_stride") != 0)
        return promoe_err_set(err, "unknown option '%s' (options: max_stride)", key);
    long v;
    if (options_int(key, value, 1, 64, &v, err) < 0)
        return -1;
    *(int *)ctx = (int)v;
    return 0;
}

static void *cl_create(const predictor_env *env, const char *options, promoe_err *err)
{
    int S = 4;
    if (options_parse("predictor cross-layer", options, set_option, &S, err) < 0)
        return NULL;
    size_t L = (size_t)env->num_layers, E = (size_t)env->num_experts;
    if (L * (size_t)S * E * E > ((size_t)1 << 28)) {
        promoe_err_set(err, "predictor cross-layer: %zu layers x %d strides x %zu^2 experts is "
                       "too many counts; lower max_stride", L, S, E);
        return NULL;
    }
    cross_layer *c = calloc(1, sizeof *c);
    if (!c || !(c->cooc = calloc(L * (size_t)S * E * E, sizeof(double))) ||
        !(c->count = calloc(L * E, sizeof(double)))) {
        if (c)
            cl_destroy(c);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    c->L = (int)L;
    c->E = (int)E;
    c->K = env->top_k;
    c->S = S;
    c->last_layer = -1;
    return c;
}

static void cl_begin(void *st)
{
    cross_layer *c = st;
    c->last_layer = -1;
    c->cur_n = 0;
}

static double *row(cross_layer *c, int layer, int s, int e)
{
    return c->cooc + ((((size_t)layer * c->S + (size_t)(s - 1)) * c->E) + (size_t)e) * c->E;
}

static void cl_observe(void *st, const predictor_obs *obs)
{
    cross_layer *c = st;
    size_t n = obs->num_tokens, LK = (size_t)c->L * c->K;
    if (n > c->cur_cap) {
        int16_t *p = realloc(c->cur, n * LK * sizeof *p);
        if (!p)
            return; /* keeps the counts learned so far */
        c->cur = p;
        c->cur_cap = n;
    }
    c->cur_n = n;
    int l = obs->layer;
    for (size_t t = 0; t < n; t++) {
        const int16_t *now = obs->experts + t * (size_t)c->K;
        memcpy(c->cur + t * LK + (size_t)l * c->K, now, (size_t)c->K * sizeof *now);
        for (int k = 0; k < c->K; k++) {
            if (now[k] < 0)
                continue;
            c->count[(size_t)l * c->E + now[k]] += 1;
            /* pair with this token's experts at the S layers before */
            for (int s = 1; s <= c->S && l - s >= 0; s++) {
                const int16_t *before = c->cur + t * LK + (size_t)(l - s) * c->K;
                for (int j = 0; j < c->K; j++)
                    if (before[j] >= 0)
                        row(c, l - s, s, before[j])[now[k]] += 1;
            }
        }
    }
    c->last_layer = l;
}

static void cl_predict(void *st, int ahead, int layer, double *scores)
{
    cross_layer *c = st;
    int from = c->last_layer, s = layer - from;
    if (ahead != 0 || from < 0 || s < 1 || s > c->S) {
        memcpy(scores, c->count + (size_t)layer * c->E, (size_t)c->E * sizeof *scores);
        return;
    }
    memset(scores, 0, (size_t)c->E * sizeof *scores);
    for (size_t t = 0; t < c->cur_n; t++) {
        const int16_t *src = c->cur + t * (size_t)c->L * c->K + (size_t)from * c->K;
        for (int k = 0; k < c->K; k++) {
            if (src[k] < 0)
                continue;
            const double *r = row(c, from, s, src[k]);
            for (int e = 0; e < c->E; e++)
                scores[e] += r[e];
        }
    }
}

const predictor_ops predictor_cross_layer = {
    .name = "cross-layer",
    .summary = "co-activation counts between layer l and l+s (ids only); max_stride=4",
    .create = cl_create,
    .begin_iteration = cl_begin,
    .observe = cl_observe,
    .predict = cl_predict,
    .destroy = cl_destroy,
};
