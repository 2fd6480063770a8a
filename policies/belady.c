/* belady.c - Belady's offline optimum: evict the resident expert whose next
 * use is farthest in the future.  It reads the trace's future, so it is an
 * upper bound for comparison, not a policy a real system could run. */
#include <stdlib.h>

#include "policies/key_list.h"
#include "policies/policy.h"

typedef struct belady {
    key_list resident;
    const uint8_t *pinned;
    const policy_future *future;
} belady;

static void *belady_create(const policy_env *env, const char *options, promoe_err *err)
{
    if (policy_no_options("belady", options, err) < 0)
        return NULL;
    if (!env->future) {
        promoe_err_set(err, "policy belady needs the trace's future, which this run cannot give");
        return NULL;
    }
    belady *s = calloc(1, sizeof *s);
    if (!s || key_list_init(&s->resident, env->num_keys) < 0) {
        free(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    s->pinned = env->pinned;
    s->future = env->future;
    return s;
}

static void belady_access(void *st, int key) { (void)st; (void)key; }
static void belady_insert(void *st, int key) { key_list_push_back(&((belady *)st)->resident, key); }
static void belady_remove(void *st, int key) { key_list_remove(&((belady *)st)->resident, key); }

static int belady_victim(void *st)
{
    belady *s = st;
    int best = -1;
    int64_t best_next = -1;
    for (int k = key_list_first(&s->resident); k >= 0; k = key_list_after(&s->resident, k)) {
        if (s->pinned[k])
            continue;
        int64_t next = s->future->next_use(s->future->ctx, k);
        if (next > best_next) {
            best = k;
            best_next = next;
        }
    }
    return best;
}

static void belady_destroy(void *st)
{
    belady *s = st;
    key_list_free(&s->resident);
    free(s);
}

const cache_policy_ops policy_belady = {
    .name = "belady",
    .summary = "offline optimum: evicts the expert used farthest in the future (upper bound)",
    .needs_future = 1,
    .create = belady_create,
    .on_access = belady_access,
    .on_insert = belady_insert,
    .on_remove = belady_remove,
    .choose_victim = belady_victim,
    .destroy = belady_destroy,
};
