/* lfu.c - least frequently used: evict the resident expert with the fewest
 * uses since it was loaded; ties go to the least recently used. */
#include <stdlib.h>

#include "policies/key_list.h"
#include "policies/policy.h"

typedef struct lfu {
    key_list order;   /* recency order, front = least recent */
    int64_t *uses;    /* [num_keys] uses while resident */
    const uint8_t *pinned;
} lfu;

static void *lfu_create(const policy_env *env, const char *options, promoe_err *err)
{
    if (policy_no_options("lfu", options, err) < 0)
        return NULL;
    lfu *s = calloc(1, sizeof *s);
    if (!s || key_list_init(&s->order, env->num_keys) < 0 ||
        !(s->uses = calloc((size_t)env->num_keys, sizeof *s->uses))) {
        if (s)
            key_list_free(&s->order);
        free(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    s->pinned = env->pinned;
    return s;
}

static void lfu_access(void *st, int key)
{
    lfu *s = st;
    s->uses[key]++;
    key_list_move_to_back(&s->order, key);
}

static void lfu_insert(void *st, int key)
{
    lfu *s = st;
    s->uses[key] = 1;
    key_list_push_back(&s->order, key);
}

static void lfu_remove(void *st, int key) { key_list_remove(&((lfu *)st)->order, key); }

static int lfu_victim(void *st)
{
    lfu *s = st;
    int best = -1;
    for (int k = key_list_first(&s->order); k >= 0; k = key_list_after(&s->order, k))
        if (!s->pinned[k] && (best < 0 || s->uses[k] < s->uses[best]))
            best = k;
    return best;
}

static void lfu_destroy(void *st)
{
    lfu *s = st;
    key_list_free(&s->order);
    free(s->uses);
    free(s);
}

const cache_policy_ops policy_lfu = {
    .name = "lfu",
    .summary = "least frequently used while resident (ties: least recent)",
    .create = lfu_create,
    .on_access = lfu_access,
    .on_insert = lfu_insert,
    .on_remove = lfu_remove,
    .choose_victim = lfu_victim,
    .destroy = lfu_destroy,
};
