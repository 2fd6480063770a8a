/* lazylib.h - a shared library opened by the first call that needs it.
 *
 * A library linked to the program is loaded before main by every command,
 * with everything it needs, whether the command uses it or not: OpenBLAS
 * starts its threads, libzip brings OpenSSL.  A library declared here is
 * opened, and its functions looked up, on first use, so a command that
 * never needs it (`promoe version`, `trace info`, most of `sim`) starts
 * without it.  Safe to call from several threads. */
#ifndef PROMOE_COMMON_LAZYLIB_H
#define PROMOE_COMMON_LAZYLIB_H

#include <stddef.h>

#include "common/error.h"

typedef struct lazylib_symbol {
    const char *name;
    void **slot; /* a function pointer's address, as (void **)&f (POSIX dlsym's idiom) */
} lazylib_symbol;

typedef struct lazylib {
    const char *soname;  /* "libopenblas.so.0" */
    const char *package; /* the Debian package that installs it */
    const lazylib_symbol *symbols;
    size_t num_symbols;
    int state;           /* 0: not tried, 1: open, -1: failed (failure says why) */
    char failure[400];
} lazylib;

/* Opens lib and fills its symbols' slots, once; 0, or -1 with err saying
 * which library or function is missing and what to install. */
int lazylib_open(lazylib *lib, promoe_err *err);

#endif
