/* ensemble.c - two predictors' scores merged: each member's scores are
 * scaled to sum to 1 (so that counts and probabilities weigh alike), then
 * mixed as w * a + (1 - w) * b.  Options: a=SPEC, b=SPEC (members, with
 * their own options separated by ';', as in a=learned:file=p.h5;hidden=64),
 * w=0.5.  Both members see every observation; the ensemble needs hidden
 * states, as the predictors worth combining with a count-based one do. */
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "predictors/predictor.h"

typedef struct member {
    const predictor_ops *ops;
    void *st;
} member;

typedef struct ensemble {
    member m[2];
    double w;
    int E;
    double *scratch;
} ensemble;

typedef struct ensemble_options {
    char spec[2][1024];
    double w;
} ensemble_options;

static int set_option(void *ctx, const char *key, const char *value, promoe_err *err)
{
    ensemble_options *o = ctx;
    if (strcmp(key, "w") == 0)
        return options_double(key, value, 0, 1, &o->w, err);
    if (strcmp(key, "a") != 0 && strcmp(key, "b") != 0)
        return promoe_err_set(err, "unknown option '%s' (options: a, b, w)", key);
    char *dst = o->spec[key[0] - 'a'];
    if (strlen(value) >= sizeof o->spec[0])
        return promoe_err_set(err, "member %s: spec too long", key);
    strcpy(dst, value);
    for (char *c = dst; *c; c++)
        if (*c == ';')
            *c = ','; /* the member's own option separator */
    return 0;
}

static void ensemble_destroy(void *st)
{
    ensemble *en = st;
    for (int i = 0; i < 2; i++)
        if (en->m[i].st)
            en->m[i].ops->destroy(en->m[i].st);
    free(en->scratch);
    free(en);
}

static void *ensemble_create(const predictor_env *env, const char *options, promoe_err *err)
{
    ensemble_options o = {.w = 0.5};
    if (options_parse("predictor ensemble", options, set_option, &o, err) < 0)
        return NULL;
    if (!o.spec[0][0] || !o.spec[1][0]) {
        promoe_err_set(err, "predictor ensemble needs two members: a=NAME[:k=v;...],b=NAME");
        return NULL;
    }
    ensemble *en = calloc(1, sizeof *en);
    if (!en || !(en->scratch = malloc((size_t)env->num_experts * sizeof *en->scratch))) {
        free(en);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    en->w = o.w;
    en->E = env->num_experts;
    for (int i = 0; i < 2; i++) {
        char name[64];
        const char *opts = options_split_spec(o.spec[i], name, sizeof name);
        member *m = &en->m[i];
        if (!(m->ops = predictor_find(name)) || strcmp(name, "ensemble") == 0) {
            promoe_err_set(err, "predictor ensemble: member %c: '%s' is not a predictor to "
                           "combine (predictors: %s)", 'a' + i, name, predictor_names());
            ensemble_destroy(en);
            return NULL;
        }
        if (!(m->st = m->ops->create(env, opts, err))) {
            promoe_err_prefix(err, "predictor ensemble: member %c", 'a' + i);
            ensemble_destroy(en);
            return NULL;
        }
    }
    return en;
}

static void ensemble_begin(void *st)
{
    ensemble *en = st;
    for (int i = 0; i < 2; i++)
        en->m[i].ops->begin_iteration(en->m[i].st);
}

static void ensemble_observe(void *st, const predictor_obs *obs)
{
    ensemble *en = st;
    for (int i = 0; i < 2; i++)
        en->m[i].ops->observe(en->m[i].st, obs);
}

static void ensemble_predict(void *st, int ahead, int layer, double *scores)
{
    ensemble *en = st;
    memset(scores, 0, (size_t)en->E * sizeof *scores);
    for (int i = 0; i < 2; i++) {
        en->m[i].ops->predict(en->m[i].st, ahead, layer, en->scratch);
        double sum = 0, weight = i == 0 ? en->w : 1 - en->w;
        for (int e = 0; e < en->E; e++)
            sum += en->scratch[e] > 0 ? en->scratch[e] : 0;
        for (int e = 0; sum > 0 && e < en->E; e++)
            if (en->scratch[e] > 0)
                scores[e] += weight * en->scratch[e] / sum;
    }
}

/* Its size and cost: both members'. */
static void ensemble_info(void *st, predictor_info *out)
{
    ensemble *en = st;
    predictor_info a = predictor_get_info(en->m[0].ops, en->m[0].st);
    predictor_info b = predictor_get_info(en->m[1].ops, en->m[1].st);
    *out = (predictor_info){.params = a.params + b.params, .flops = a.flops + b.flops,
                            .bytes = a.bytes + b.bytes,
                            .train_samples = a.train_samples + b.train_samples,
                            .train_seconds = a.train_seconds + b.train_seconds};
}

const predictor_ops predictor_ensemble = {
    .name = "ensemble",
    .summary = "two predictors' normalised scores mixed: a=SPEC,b=SPEC,w=0.5",
    .needs_hidden = 1,
    .create = ensemble_create,
    .begin_iteration = ensemble_begin,
    .observe = ensemble_observe,
    .predict = ensemble_predict,
    .destroy = ensemble_destroy,
    .info = ensemble_info,
};
