/* fifo.c - first in, first out: evict the expert resident longest; use
 * does not refresh it. */
#include "policies/list_policy.h"

static void *fifo_create(const policy_env *env, const char *options, promoe_err *err)
{
    return list_policy_create(env, "fifo", options, sizeof(list_policy), err);
}

const cache_policy_ops policy_fifo = {
    .name = "fifo",
    .summary = "first in, first out",
    .create = fifo_create,
    .on_access = list_policy_ignore,
    .on_insert = list_policy_push_back,
    .on_remove = list_policy_remove,
    .choose_victim = list_policy_first_unpinned,
    .destroy = list_policy_destroy,
};
