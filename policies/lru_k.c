/* lru_k.c - LRU-K (O'Neil et al.): evict the resident expert whose K-th
 * most recent use is oldest; experts used fewer than K times go first,
 * least recent first.  History outlives eviction.  Option k=N (default 2). */
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "policies/list_policy.h"

typedef struct lru_k {
    list_policy base;
    int k;
    int64_t tick;
    int64_t *history;   /* [num_keys][k]: times of the last k uses, newest first; 0 = none */
} lru_k;

static int set_option(void *ctx, const char *key, const char *value, promoe_err *err)
{
    if (strcmp(key, "k") != 0)
        return promoe_err_set(err, "unknown option '%s' (options: k)", key);
    return options_int(key, value, 1, 16, ctx, err);
}

static void *lru_k_create(const policy_env *env, const char *options, promoe_err *err)
{
    long k = 2;
    if (options_parse("policy lru-k", options, set_option, &k, err) < 0)
        return NULL;
    lru_k *s = list_policy_create(env, "lru-k", "", sizeof *s, err);
    if (s && !(s->history = calloc((size_t)env->num_keys * (size_t)k, sizeof *s->history))) {
        list_policy_destroy(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    if (s)
        s->k = (int)k;
    return s;
}

static void lru_k_use(void *st, int key)
{
    lru_k *s = st;
    int64_t *h = s->history + (size_t)key * (size_t)s->k;
    memmove(h + 1, h, (size_t)(s->k - 1) * sizeof *h);
    h[0] = ++s->tick;
    list_policy_move_to_back(st, key);
}

static int lru_k_victim(void *st)
{
    lru_k *s = st;
    int best = -1;
    for (int key = key_list_first(&s->base.order); key >= 0;
         key = key_list_after(&s->base.order, key)) {
        if (s->base.env->pinned[key])
            continue;
        /* the list runs least recent first, so strict < keeps that order on ties */
        if (best < 0 || s->history[(size_t)key * s->k + s->k - 1] <
                            s->history[(size_t)best * s->k + s->k - 1])
            best = key;
    }
    return best;
}

static void lru_k_destroy(void *st)
{
    free(((lru_k *)st)->history);
    list_policy_destroy(st);
}

const cache_policy_ops policy_lru_k = {
    .name = "lru-k",
    .summary = "LRU-K: evicts the oldest K-th most recent use (k=2 by default)",
    .create = lru_k_create,
    .on_access = lru_k_use,
    .on_insert = lru_k_use,
    .on_remove = list_policy_remove,
    .choose_victim = lru_k_victim,
    .destroy = lru_k_destroy,
};
