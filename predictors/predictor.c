#include "predictors/predictor.h"

#include <stdio.h>
#include <string.h>

extern const predictor_ops predictor_none, predictor_oracle;

/* The registry: one line per predictor. */
const predictor_ops *const predictor_registry[] = {
    &predictor_none,
    &predictor_oracle,
    NULL,
};

const predictor_ops *predictor_find(const char *name)
{
    for (int i = 0; predictor_registry[i]; i++)
        if (strcmp(predictor_registry[i]->name, name) == 0)
            return predictor_registry[i];
    return NULL;
}

const char *predictor_names(void)
{
    static char buf[256];
    if (!buf[0])
        for (int i = 0; predictor_registry[i]; i++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? ", " : "",
                     predictor_registry[i]->name);
    return buf;
}
