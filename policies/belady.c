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

/* A resident's slot: its key and what the scan compares, side by side so
 * that the scan reads one array in order. */
typedef struct slot {
    int64_t next;   /* next use, as last asked (INT64_MIN: not asked yet) */
    int64_t loaded; /* a count of loads: the tie-break */
    int key;
} slot;

typedef struct belady {
    const policy_env *env;
    slot *slots;        /* the residents, in no order */
    int n;
    int *at;            /* [num_keys] index in slots, -1 when not resident */
    int64_t loads;
} belady;

static void belady_destroy(void *st)
{
    belady *s = st;
    free(s->slots);
    free(s->at);
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
        s->slots = malloc(n * sizeof *s->slots);
        s->at = malloc(n * sizeof *s->at);
    }
    if (!s || !s->slots || !s->at) {
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
    s->slots[s->n++] = (slot){.next = INT64_MIN, .loaded = s->loads++, .key = key};
}

static void belady_remove(void *st, int key)
{
    belady *s = st;
    int i = s->at[key];
    s->slots[i] = s->slots[--s->n];
    s->at[s->slots[i].key] = i;
    s->at[key] = -1;
}

static int belady_victim(void *st)
{
    belady *s = st;
    const policy_future *f = s->env->future;
    int64_t (*next_use)(void *, int) = f->next_use;
    void *ctx = f->ctx;
    const uint8_t *pinned = s->env->pinned;
    int64_t now = f->now(ctx), best_next = 0, best_loaded = 0;
    int best = -1;
    for (slot *p = s->slots, *end = s->slots + s->n; p < end; p++) {
        if (pinned[p->key])
            continue;
        if (p->next < now) /* used since it was asked, or never asked */
            p->next = next_use(ctx, p->key);
        if (best < 0 || p->next > best_next || (p->next == best_next && p->loaded < best_loaded)) {
            best = p->key;
            best_next = p->next;
            best_loaded = p->loaded;
        }
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
