/* offload_options.h - the options that set an offloading system
 * (offload/config.h) on the command line, one table for `promoe sim` and
 * `promoe exec`: --policy (-p), --cache-scope, --predictor, --stride,
 * --prefetch-limit, --chunks, --preempt and --reorder, parsed and checked
 * here into overrides of a named system's settings (system_overrides).
 * A command puts OFFLOAD_LONG_OPTIONS in its getopt table and hands each
 * option to offload_option first. */
#ifndef PROMOE_CLI_OFFLOAD_OPTIONS_H
#define PROMOE_CLI_OFFLOAD_OPTIONS_H

#include <getopt.h>

#include "offload/system.h"

/* Above the commands' own option values (256 and up). */
enum {
    OFFLOAD_OPT_SCOPE = 1024, OFFLOAD_OPT_PREDICTOR, OFFLOAD_OPT_STRIDE, OFFLOAD_OPT_LIMIT,
    OFFLOAD_OPT_CHUNKS, OFFLOAD_OPT_PREEMPT, OFFLOAD_OPT_REORDER
};

#define OFFLOAD_LONG_OPTIONS                                                                  \
    {"policy", required_argument, NULL, 'p'},                                                 \
    {"cache-scope", required_argument, NULL, OFFLOAD_OPT_SCOPE},                              \
    {"predictor", required_argument, NULL, OFFLOAD_OPT_PREDICTOR},                            \
    {"stride", required_argument, NULL, OFFLOAD_OPT_STRIDE},                                  \
    {"prefetch-limit", required_argument, NULL, OFFLOAD_OPT_LIMIT},                           \
    {"chunks", required_argument, NULL, OFFLOAD_OPT_CHUNKS},                                  \
    {"preempt", no_argument, NULL, OFFLOAD_OPT_PREEMPT},                                      \
    {"reorder", no_argument, NULL, OFFLOAD_OPT_REORDER}

/* Option c with argument arg: 1 if it is one of the table's and was taken
 * into ov, 0 if it is not one of them, -1 after printing a usage error
 * (command cmd) for a malformed value. */
int offload_option(const char *cmd, int c, const char *arg, system_overrides *ov);

/* After parsing: checks that the scope is global or per-layer and that the
 * policy and predictor named exist; CLI_OK, or a usage error printed. */
int offload_options_check(const char *cmd, const system_overrides *ov);

/* A system whose policy learns its fixed experts from a trace (static,
 * monde) needs --train: CLI_OK, or a usage error printed. */
int offload_options_need_train(const char *cmd, const system_desc *s, const char *train);

#endif
