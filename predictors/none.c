/* none.c - predicts nothing: the purely reactive baseline. */
#include <stdlib.h>
#include <string.h>

#include "predictors/predictor.h"

typedef struct none_state {
    int num_experts;
} none_state;

static void *none_create(const predictor_env *env, const char *options, promoe_err *err)
{
    if (options && *options) {
        promoe_err_set(err, "predictor none takes no options (got '%s')", options);
        return NULL;
    }
    none_state *s = malloc(sizeof *s);
    if (!s) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    s->num_experts = env->num_experts;
    return s;
}

static void none_begin(void *st) { (void)st; }
static void none_observe(void *st, const predictor_obs *obs) { (void)st; (void)obs; }

static void none_predict(void *st, int ahead, int layer, double *scores)
{
    memset(scores, 0, (size_t)((none_state *)st)->num_experts * sizeof *scores);
}

const predictor_ops predictor_none = {
    .name = "none",
    .summary = "no prediction: experts are loaded when the router asks for them",
    .create = none_create,
    .begin_iteration = none_begin,
    .observe = none_observe,
    .predict = none_predict,
    .destroy = free,
};
