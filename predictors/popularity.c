/* popularity.c - the most frequently chosen experts of each layer, counted
 * online over everything observed so far (including a training part). */
#include <stdlib.h>
#include <string.h>

#include "predictors/predictor.h"

typedef struct popularity {
    int E, K;
    double *count; /* [L][E] */
} popularity;

static void pop_destroy(void *st)
{
    free(((popularity *)st)->count);
    free(st);
}

static void *pop_create(const predictor_env *env, const char *options, promoe_err *err)
{
    if (options && *options) {
        promoe_err_set(err, "predictor popularity takes no options (got '%s')", options);
        return NULL;
    }
    popularity *p = calloc(1, sizeof *p);
    if (!p || !(p->count = calloc((size_t)env->num_layers * env->num_experts, sizeof(double)))) {
        free(p);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    p->E = env->num_experts;
    p->K = env->top_k;
    return p;
}

static void pop_begin(void *st) { (void)st; }

static void pop_observe(void *st, const predictor_obs *obs)
{
    popularity *p = st;
    double *row = p->count + (size_t)obs->layer * p->E;
    for (size_t i = 0; i < obs->num_tokens * (size_t)p->K; i++)
        if (obs->experts[i] >= 0)
            row[obs->experts[i]] += 1;
}

static void pop_predict(void *st, int ahead, int layer, double *scores)
{
    popularity *p = st;
    memcpy(scores, p->count + (size_t)layer * p->E, (size_t)p->E * sizeof *scores);
}

const predictor_ops predictor_popularity = {
    .name = "popularity",
    .summary = "each layer's most frequently chosen experts so far",
    .create = pop_create,
    .begin_iteration = pop_begin,
    .observe = pop_observe,
    .predict = pop_predict,
    .destroy = pop_destroy,
};
