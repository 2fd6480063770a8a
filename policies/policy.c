#include "policies/policy.h"

#include <stdio.h>
#include <string.h>

#include "common/registry.h"

extern const cache_policy_ops policy_lru, policy_lfu, policy_fifo, policy_belady, policy_static,
    policy_lru_k, policy_promoe;

/* The registry: one line per policy. */
const cache_policy_ops *const policy_registry[] = {
    &policy_lru,
    &policy_lfu,
    &policy_fifo,
    &policy_belady,
    &policy_static,
    &policy_lru_k,
    &policy_promoe,
    NULL,
};

const cache_policy_ops *policy_find(const char *name)
{
    return registry_find((const void *const *)policy_registry, name);
}

const char *policy_names(void)
{
    static char buf[256];
    if (!buf[0])
        registry_names((const void *const *)policy_registry, buf, sizeof buf);
    return buf;
}

int policy_no_options(const char *name, const char *options, promoe_err *err)
{
    if (options && *options)
        return promoe_err_set(err, "policy %s takes no options (got '%s')", name, options);
    return 0;
}
