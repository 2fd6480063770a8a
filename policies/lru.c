/* lru.c - least recently used: evict the resident expert used longest ago. */
#include "policies/list_policy.h"

static void *lru_create(const policy_env *env, const char *options, promoe_err *err)
{
    return list_policy_create(env, "lru", options, sizeof(list_policy), err);
}

const cache_policy_ops policy_lru = {
    .name = "lru",
    .summary = "least recently used",
    .create = lru_create,
    .on_access = list_policy_move_to_back,
    .on_insert = list_policy_move_to_back,
    .on_remove = list_policy_remove,
    .choose_victim = list_policy_first_unpinned,
    .destroy = list_policy_destroy,
};
