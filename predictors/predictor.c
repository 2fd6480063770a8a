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

const char *predictor_split_spec(const char *spec, char *name, size_t len)
{
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    snprintf(name, len, "%.*s", (int)n, spec);
    return colon ? colon + 1 : "";
}

int predictor_parse_options(const char *who, const char *options,
                            int (*on_option)(void *ctx, const char *key, const char *value,
                                             promoe_err *err),
                            void *ctx, promoe_err *err)
{
    char buf[512];
    if (!options || !*options)
        return 0;
    if (strlen(options) >= sizeof buf)
        return promoe_err_set(err, "%s: options too long", who);
    strcpy(buf, options);
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item)
            return promoe_err_set(err, "%s: option '%s' is not key=value", who, item);
        *eq = '\0';
        if (on_option(ctx, item, eq + 1, err) < 0)
            return promoe_err_prefix(err, "%s", who);
    }
    return 0;
}
