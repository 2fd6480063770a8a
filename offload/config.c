#include "offload/config.h"

#include <string.h>

void offload_config_defaults(offload_config *c)
{
    memset(c, 0, sizeof *c);
    c->policy = "lru";
    c->predictor = "none";
    c->stride = 1;
    c->chunks = 1;
}

cache_config offload_cache_config(const offload_config *c, int L, int E)
{
    return (cache_config){.num_layers = L, .num_experts = E, .slots = c->slots,
                          .per_layer = c->per_layer, .policy = c->policy,
                          .policy_options = c->policy_options};
}
