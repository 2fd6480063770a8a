/* error.h - how libraries report failure.
 *
 * Library functions never print and never exit: they fill a promoe_err with
 * one line that names the problem (and the file, when there is one) and
 * return -1 (or NULL).  The command layer prints the line and picks the exit
 * status.  A NULL promoe_err pointer is allowed and discards the message.
 */
#ifndef PROMOE_COMMON_ERROR_H
#define PROMOE_COMMON_ERROR_H

#define PROMOE_ERR_MAX 1024

typedef struct promoe_err {
    char msg[PROMOE_ERR_MAX];
} promoe_err;

/* Sets the message (printf-style) and returns -1, so callers can write
 * `return promoe_err_set(err, "...", ...);`. */
int promoe_err_set(promoe_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the existing message with "PREFIX: " (for adding context such as
 * a file name on the way up) and returns -1. */
int promoe_err_prefix(promoe_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
