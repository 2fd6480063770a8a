/* lru.c - least recently used: evict the resident expert used longest ago. */
#include <stdlib.h>

#include "policies/key_list.h"
#include "policies/policy.h"

typedef struct lru {
    key_list order; /* front = least recently used */
    const uint8_t *pinned;
} lru;

static void *lru_create(const policy_env *env, const char *options, promoe_err *err)
{
    if (policy_no_options("lru", options, err) < 0)
        return NULL;
    lru *s = calloc(1, sizeof *s);
    if (!s || key_list_init(&s->order, env->num_keys) < 0) {
        free(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    s->pinned = env->pinned;
    return s;
}

static void lru_touch(void *st, int key) { key_list_move_to_back(&((lru *)st)->order, key); }
static void lru_remove(void *st, int key) { key_list_remove(&((lru *)st)->order, key); }

static int lru_victim(void *st)
{
    lru *s = st;
    return key_list_first_unpinned(&s->order, s->pinned);
}

static void lru_destroy(void *st)
{
    lru *s = st;
    key_list_free(&s->order);
    free(s);
}

const cache_policy_ops policy_lru = {
    .name = "lru",
    .summary = "least recently used",
    .create = lru_create,
    .on_access = lru_touch,
    .on_insert = lru_touch,
    .on_remove = lru_remove,
    .choose_victim = lru_victim,
    .destroy = lru_destroy,
};
