#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int promoe_err_set(promoe_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int promoe_err_prefix(promoe_err *err, const char *fmt, ...)
{
    if (err) {
        char old[PROMOE_ERR_MAX];
        memcpy(old, err->msg, sizeof old);
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof err->msg)
            snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", old);
    }
    return -1;
}
