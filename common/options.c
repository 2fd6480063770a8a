#include "common/options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *options_split_spec(const char *spec, char *name, size_t len)
{
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    snprintf(name, len, "%.*s", (int)n, spec);
    return colon ? colon + 1 : "";
}

int options_parse(const char *who, const char *options,
                  int (*on_option)(void *ctx, const char *key, const char *value, promoe_err *err),
                  void *ctx, promoe_err *err)
{
    char buf[1024];
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

int options_int(const char *key, const char *value, long lo, long hi, long *out, promoe_err *err)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < lo || v > hi)
        return promoe_err_set(err, "%s '%s' must be a whole number in [%ld, %ld]", key, value, lo, hi);
    *out = v;
    return 0;
}

int options_double(const char *key, const char *value, double lo, double hi, double *out,
                   promoe_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v >= lo && v <= hi))
        return promoe_err_set(err, "%s '%s' must be a number in [%g, %g]", key, value, lo, hi);
    *out = v;
    return 0;
}
