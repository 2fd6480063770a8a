/* options.h - "key=value,key=value" option strings, as policies and
 * predictors take them after their name ("oracle:accuracy=0.9"). */
#ifndef PROMOE_COMMON_OPTIONS_H
#define PROMOE_COMMON_OPTIONS_H

#include <stddef.h>

#include "common/error.h"

/* Splits "NAME[:OPTIONS]" (as in "oracle:accuracy=0.9"): copies NAME into
 * name and returns OPTIONS ("" when there are none). */
const char *options_split_spec(const char *spec, char *name, size_t len);

/* Calls on_option for each pair; errors are prefixed with `who`.  The key
 * and value strings live only during the call: copy what must be kept. */
int options_parse(const char *who, const char *options,
                  int (*on_option)(void *ctx, const char *key, const char *value, promoe_err *err),
                  void *ctx, promoe_err *err);

/* For on_option callbacks: a whole number in [lo, hi], or a number. */
int options_int(const char *key, const char *value, long lo, long hi, long *out, promoe_err *err);
int options_double(const char *key, const char *value, double lo, double hi, double *out,
                   promoe_err *err);

#endif
