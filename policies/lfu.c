/* lfu.c - least frequently used: evict the resident expert with the fewest
 * uses since it was loaded; ties go to the least recently used. */
#include <stdlib.h>

#include "policies/list_policy.h"

typedef struct lfu {
    list_policy base; /* recency order, front = least recent */
    int64_t *uses;    /* [num_keys] uses while resident */
} lfu;

static void *lfu_create(const policy_env *env, const char *options, promoe_err *err)
{
    lfu *s = list_policy_create(env, "lfu", options, sizeof *s, err);
    if (s && !(s->uses = calloc((size_t)env->num_keys, sizeof *s->uses))) {
        list_policy_destroy(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    return s;
}

static void lfu_access(void *st, int key)
{
    lfu *s = st;
    s->uses[key]++;
    list_policy_move_to_back(st, key);
}

static void lfu_insert(void *st, int key)
{
    lfu *s = st;
    s->uses[key] = 1;
    list_policy_push_back(st, key);
}

static int lfu_victim(void *st)
{
    lfu *s = st;
    const key_list *order = &s->base.order;
    int best = -1;
    for (int k = key_list_first(order); k >= 0; k = key_list_after(order, k))
        if (!s->base.env->pinned[k] && (best < 0 || s->uses[k] < s->uses[best]))
            best = k;
    return best;
}

static void lfu_destroy(void *st)
{
    free(((lfu *)st)->uses);
    list_policy_destroy(st);
}

const cache_policy_ops policy_lfu = {
    .name = "lfu",
    .summary = "least frequently used while resident (ties: least recent)",
    .create = lfu_create,
    .on_access = lfu_access,
    .on_insert = lfu_insert,
    .on_remove = list_policy_remove,
    .choose_victim = lfu_victim,
    .destroy = lfu_destroy,
};
