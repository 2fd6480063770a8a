/* oracle.c - reads the trace's future: the experts each target layer will
 * really choose, scored by how many tokens choose them (ties in the
 * router's rank order).  An upper bound, not
 * a predictor a real system could run.  accuracy=p (default 1) degrades it
 * for sensitivity studies: each true choice is kept with probability p and
 * otherwise replaced by a random expert the token did not choose. */
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "predictors/predictor.h"

typedef struct oracle {
    predictor_env env;
    double accuracy;
    gsl_rng *rng;
} oracle;

static int set_option(void *ctx, const char *key, const char *value, promoe_err *err)
{
    oracle *o = ctx;
    if (strcmp(key, "accuracy") != 0)
        return promoe_err_set(err, "unknown option '%s' (options: accuracy)", key);
    return options_double(key, value, 0, 1, &o->accuracy, err);
}

static void oracle_destroy(void *st)
{
    oracle *o = st;
    if (o->rng)
        gsl_rng_free(o->rng);
    free(o);
}

static void *oracle_create(const predictor_env *env, const char *options, promoe_err *err)
{
    if (!env->future) {
        promoe_err_set(err, "predictor oracle needs the trace's future, which this run cannot give");
        return NULL;
    }
    oracle *o = calloc(1, sizeof *o);
    if (!o || !(o->rng = gsl_rng_alloc(gsl_rng_mt19937))) {
        free(o);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    o->env = *env;
    o->accuracy = 1.0;
    gsl_rng_set(o->rng, env->seed);
    if (options_parse("predictor oracle", options, set_option, o, err) < 0) {
        oracle_destroy(o);
        return NULL;
    }
    return o;
}

static void oracle_begin(void *st) { (void)st; }
static void oracle_observe(void *st, const predictor_obs *obs) { (void)st; (void)obs; }

static void oracle_predict(void *st, int ahead, int layer, double *scores)
{
    oracle *o = st;
    int E = o->env.num_experts, K = o->env.top_k;
    memset(scores, 0, (size_t)E * sizeof *scores);
    const int16_t *ids;
    size_t n = o->env.future->experts(o->env.future->ctx, ahead, layer, &ids);
    for (size_t t = 0; t < n; t++) {
        const int16_t *row = ids + t * (size_t)K;
        for (int k = 0; k < K; k++) {
            if (row[k] < 0)
                continue;
            int e = row[k];
            if (o->accuracy < 1 && gsl_rng_uniform(o->rng) >= o->accuracy) {
                /* a wrong guess: an expert this token did not choose */
                for (int tries = 0; tries < 64; tries++) {
                    int g = (int)gsl_rng_uniform_int(o->rng, (unsigned long)E), chosen = 0;
                    for (int j = 0; j < K; j++)
                        chosen |= row[j] == g;
                    if (!chosen) {
                        e = g;
                        break;
                    }
                }
            }
            /* one per token choosing it; ties broken by rank (the bonuses of
             * n tokens sum below 1), so the ranking is the router's order */
            scores[e] += 1.0 + (double)(K - k) / ((double)K * (double)(n + 1));
        }
    }
}

const predictor_ops predictor_oracle = {
    .name = "oracle",
    .summary = "reads the trace's future (upper bound); accuracy=p degrades it",
    .needs_future = 1,
    .create = oracle_create,
    .begin_iteration = oracle_begin,
    .observe = oracle_observe,
    .predict = oracle_predict,
    .destroy = oracle_destroy,
};
