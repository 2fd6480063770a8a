/* promoe.c - prediction-aware LRU: an expert a predictor expects at a
 * position not yet passed is evicted last; among those, the one expected
 * farthest ahead goes first.  Without predictions it is exactly LRU. */
#include <stdlib.h>

#include "policies/list_policy.h"

typedef struct promoe_policy {
    list_policy base;     /* recency order, front = least recent */
    int64_t *expected;    /* [num_keys] predicted position, or -1 */
} promoe_policy;

static void *promoe_create(const policy_env *env, const char *options, promoe_err *err)
{
    promoe_policy *s = list_policy_create(env, "promoe", options, sizeof *s, err);
    if (s && !(s->expected = malloc((size_t)env->num_keys * sizeof *s->expected))) {
        list_policy_destroy(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    for (int k = 0; s && k < env->num_keys; k++)
        s->expected[k] = -1;
    return s;
}

static void promoe_predict(void *st, int key, int64_t when)
{
    promoe_policy *s = st;
    if (when > s->expected[key])
        s->expected[key] = when;
}

static int promoe_victim(void *st)
{
    promoe_policy *s = st;
    const policy_env *env = s->base.env;
    int64_t now = env->clock ? *env->clock : INT64_MAX;
    int far = -1;
    for (int k = key_list_first(&s->base.order); k >= 0; k = key_list_after(&s->base.order, k)) {
        if (env->pinned[k])
            continue;
        if (s->expected[k] < now)
            return k; /* the least recent expert nobody expects */
        if (far < 0 || s->expected[k] > s->expected[far])
            far = k;
    }
    return far;
}

static void promoe_destroy(void *st)
{
    free(((promoe_policy *)st)->expected);
    list_policy_destroy(st);
}

const cache_policy_ops policy_promoe = {
    .name = "promoe",
    .summary = "prediction-aware LRU: experts predicted for later are evicted last",
    .create = promoe_create,
    .on_access = list_policy_move_to_back,
    .on_insert = list_policy_move_to_back,
    .on_remove = list_policy_remove,
    .choose_victim = promoe_victim,
    .destroy = promoe_destroy,
    .on_predict = promoe_predict,
};
