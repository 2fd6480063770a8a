#include "predictors/predictor.h"

#include <stdio.h>
#include <string.h>

#include "common/registry.h"

extern const predictor_ops predictor_none, predictor_oracle, predictor_prev_token,
    predictor_popularity, predictor_cross_layer, predictor_gate_reuse, predictor_eam,
    predictor_learned;

/* The registry: one line per predictor. */
const predictor_ops *const predictor_registry[] = {
    &predictor_none,
    &predictor_oracle,
    &predictor_prev_token,
    &predictor_popularity,
    &predictor_cross_layer,
    &predictor_gate_reuse,
    &predictor_eam,
    &predictor_learned,
    NULL,
};

const predictor_ops *predictor_find(const char *name)
{
    return registry_find((const void *const *)predictor_registry, name);
}

const char *predictor_names(void)
{
    static char buf[256];
    if (!buf[0])
        registry_names((const void *const *)predictor_registry, buf, sizeof buf);
    return buf;
}
