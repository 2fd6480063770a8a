/* belady.c - Belady's offline optimum: evict the resident expert whose next
 * use is farthest in the future (ties: the one loaded first).  It reads the
 * trace's future, so it is an upper bound for comparison, not a policy a
 * real system could run.
 *
 * Each resident's next use is kept as last asked: an answer at or after
 * the current moment still holds, so a victim scan asks again only for the
 * residents used since (about one question a hit, instead of one for every
 * resident at every miss). */
#include <stdlib.h>

#include "policies/policy.h"

typedef struct belady {
    const policy_env *env;
    int *resident, n;   /* the resident keys, in no order */
    int *at;            /* [num_keys] index in resident, -1 when not resident */
    int64_t *next;      /* [num_keys] next use, as last asked */
    int64_t *loaded;    /* [num_keys] a count of loads: the tie-break */
    int64_t loads;
} belady;

static void belady_destroy(void *st)
{
    belady *s = st;
    free(s->resident);
    free(s->at);
    free(s->next);
    free(s->loaded);
    free(s);
}

static void *belady_create(const policy_env *env, const char *options, promoe_err *err)
{
    if (!env->future) {
        promoe_err_set(err, "policy belady needs the trace's future, which this run cannot give");
        return NULL;
    }
    if (policy_no_options("belady", options, err) < 0)
        return NULL;
    belady *s = calloc(1, sizeof *s);
    size_t n = (size_t)env->num_keys;
    if (s) {
        s->env = env;
        s->resident = malloc(n * sizeof *s->resident);
        s->at = malloc(n * sizeof *s->at);
        s->next = malloc(n * sizeof *s->next);
        s->loaded = malloc(n * sizeof *s->loaded);
    }
    if (!s || !s->resident || !s->at || !s->next || !s->loaded) {
        if (s)
            belady_destroy(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    for (size_t k = 0; k < n; k++)
        s->at[k] = -1;
    return s;
}

static void belady_access(void *st, int key)
{
    (void)st; /* the next use is asked when a victim is wanted */
    (void)key;
}

static void belady_insert(void *st, int key)
{
    belady *s = st;
    s->at[key] = s->n;
    s->resident[s->n++] = key;
    s->loaded[key] = s->loads++;
    s->next[key] = INT64_MIN; /* not asked yet */
}

static void belady_remove(void *st, int key)
{
    belady *s = st;
    int i = s->at[key], last = s->resident[--s->n];
    s->resident[i] = last;
    s->at[last] = i;
    s->at[key] = -1;
}

static int belady_victim(void *st)
{
    belady *s = st;
    const policy_future *f = s->env->future;
    const uint8_t *pinned = s->env->pinned;
    int64_t now = f->now(f->ctx);
    int best = -1;
    for (int i = 0; i < s->n; i++) {
        int k = s->resident[i];
        if (pinned[k])
            continue;
        if (s->next[k] < now) /* used since it was asked, or never asked */
            s->next[k] = f->next_use(f->ctx, k);
        if (best < 0 || s->next[k] > s->next[best] ||
            (s->next[k] == s->next[best] && s->loaded[k] < s->loaded[best]))
            best = k;
    }
    return best;
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
