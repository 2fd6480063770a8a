/* gate_reuse.c - apply layer l+s's router to the hidden state entering
 * layer l (what Mixtral-offloading and HOBBIT do for s = 1): the residual
 * stream changes slowly, so a later gate on an earlier state is a good
 * guess.  Scores are the gate's softmax, summed over the step's tokens.
 * Needs hidden states and router weights in the trace. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "predictors/predictor.h"

typedef struct gate_reuse {
    int L, E, D;
    const float *router;   /* [L][E][D] */
    predictor_hidden seen; /* the latest observed layer's input */
    double *logit;         /* [E] scratch */
} gate_reuse;

static void gr_destroy(void *st)
{
    predictor_hidden_free(&((gate_reuse *)st)->seen);
    free(((gate_reuse *)st)->logit);
    free(st);
}

static void *gr_create(const predictor_env *env, const char *options, promoe_err *err)
{
    if (options && *options) {
        promoe_err_set(err, "predictor gate-reuse takes no options (got '%s')", options);
        return NULL;
    }
    if (!env->router_weight || env->hidden_dim < 1) {
        promoe_err_set(err, "predictor gate-reuse needs hidden states and router weights "
                       "(on traces of expert ids only, use cross-layer)");
        return NULL;
    }
    gate_reuse *g = calloc(1, sizeof *g);
    if (!g || !(g->logit = malloc((size_t)env->num_experts * sizeof *g->logit))) {
        free(g);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    g->L = env->num_layers;
    g->E = env->num_experts;
    g->D = env->hidden_dim;
    g->router = env->router_weight;
    return g;
}

static void gr_begin(void *st) { ((gate_reuse *)st)->seen.n = 0; }

static void gr_observe(void *st, const predictor_obs *obs)
{
    gate_reuse *g = st;
    predictor_hidden_keep(&g->seen, obs, g->D);
}

static void gr_predict(void *st, int ahead, int layer, double *scores)
{
    gate_reuse *g = st;
    memset(scores, 0, (size_t)g->E * sizeof *scores);
    double *logit = g->logit;
    for (size_t t = 0; t < g->seen.n; t++) {
        const float *h = g->seen.rows + t * (size_t)g->D;
        double mx = -INFINITY, z = 0;
        for (int e = 0; e < g->E; e++) {
            const float *w = g->router + ((size_t)layer * g->E + (size_t)e) * g->D;
            double acc = 0;
            for (int d = 0; d < g->D; d++)
                acc += (double)w[d] * h[d];
            logit[e] = acc;
            if (acc > mx)
                mx = acc;
        }
        for (int e = 0; e < g->E; e++)
            z += exp(logit[e] - mx);
        for (int e = 0; e < g->E; e++)
            scores[e] += exp(logit[e] - mx) / z;
    }
}

const predictor_ops predictor_gate_reuse = {
    .name = "gate-reuse",
    .summary = "layer l+s's router applied to layer l's hidden state (needs hidden states)",
    .needs_hidden = 1,
    .create = gr_create,
    .begin_iteration = gr_begin,
    .observe = gr_observe,
    .predict = gr_predict,
    .destroy = gr_destroy,
};
