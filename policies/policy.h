/* policy.h - cache eviction policies: a table of operations and a registry.
 *
 * A policy decides which resident expert to evict; the cache (offload/cache.h)
 * owns residency and pinning and tells the policy what happened.  Keys are
 * global expert ids, layer * num_experts + expert.  Each policy keeps its
 * state private behind `void *`; adding one means one new file and one line
 * in the registry (policies/policy.c).
 */
#ifndef PROMOE_POLICIES_POLICY_H
#define PROMOE_POLICIES_POLICY_H

#include <stdint.h>

#include "common/error.h"

#define POLICY_NEVER INT64_MAX

/* What an offline policy may know of the future (the replay driver fills
 * it); absent for online policies. */
typedef struct policy_future {
    /* Index of the next access to key at or after the current moment, or
     * POLICY_NEVER. */
    int64_t (*next_use)(void *ctx, int key);
    /* The current moment, in next_use's units: an answer at or after it
     * still holds (no access to the key comes before it), so a policy may
     * keep it until then instead of asking again. */
    int64_t (*now)(void *ctx);
    void *ctx;
} policy_future;

typedef struct policy_env {
    int num_keys;              /* L * E */
    int key_lo, key_hi;        /* the keys of the pool this instance serves */
    int capacity;              /* slots of that pool */
    const uint8_t *pinned;     /* [num_keys], nonzero = must not be evicted */
    const policy_future *future; /* NULL when the future is unknown */
    /* The replay's position (iteration * L + layer), for policies that
     * weigh predictions; NULL outside the timed simulator. */
    const int64_t *clock;
} policy_env;

typedef struct cache_policy_ops {
    const char *name;
    const char *summary;
    int needs_future;          /* offline: refuses to run without `future` */
    /* options: "k=v,k=v" (may be empty); env outlives the instance. */
    void *(*create)(const policy_env *env, const char *options, promoe_err *err);
    void (*on_access)(void *st, int key);  /* a resident key was used */
    void (*on_insert)(void *st, int key);  /* key became resident (and is used) */
    void (*on_remove)(void *st, int key);  /* key left the cache */
    int (*choose_victim)(void *st);        /* resident, unpinned key; -1 if none */
    void (*destroy)(void *st);
    /* Optional (NULL when unused): */
    /* a predictor expects key to be used at position `when` */
    void (*on_predict)(void *st, int key, int64_t when);
    /* keys to load before serving starts (at most max); returns how many */
    int (*initial)(void *st, int *keys, int max);
} cache_policy_ops;

const cache_policy_ops *policy_find(const char *name);
/* Names of all policies, comma-separated. */
const char *policy_names(void);
extern const cache_policy_ops *const policy_registry[];

/* For policies that take no options: fails on a non-empty string. */
int policy_no_options(const char *name, const char *options, promoe_err *err);

#endif
