/* belady.c - Belady's offline optimum: evict the resident expert whose next
 * use is farthest in the future.  It reads the trace's future, so it is an
 * upper bound for comparison, not a policy a real system could run. */
#include "policies/list_policy.h"

static void *belady_create(const policy_env *env, const char *options, promoe_err *err)
{
    if (!env->future) {
        promoe_err_set(err, "policy belady needs the trace's future, which this run cannot give");
        return NULL;
    }
    return list_policy_create(env, "belady", options, sizeof(list_policy), err);
}

static int belady_victim(void *st)
{
    list_policy *s = st;
    const policy_future *f = s->env->future;
    int best = -1;
    int64_t best_next = -1;
    for (int k = key_list_first(&s->order); k >= 0; k = key_list_after(&s->order, k)) {
        if (s->env->pinned[k])
            continue;
        int64_t next = f->next_use(f->ctx, k);
        if (next > best_next) {
            best = k;
            best_next = next;
        }
    }
    return best;
}

const cache_policy_ops policy_belady = {
    .name = "belady",
    .summary = "offline optimum: evicts the expert used farthest in the future (upper bound)",
    .needs_future = 1,
    .create = belady_create,
    .on_access = list_policy_ignore,
    .on_insert = list_policy_push_back,
    .on_remove = list_policy_remove,
    .choose_victim = belady_victim,
    .destroy = list_policy_destroy,
};
