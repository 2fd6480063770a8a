/* cli.h - the command layer: option parsing, messages and exit statuses.
 *
 * Only this layer prints and chooses exit codes: 0 success, 1 the work
 * failed (bad file, bad data), 2 the command line was wrong.  Every error is
 * one line on stderr starting with "promoe".
 */
#ifndef PROMOE_CLI_CLI_H
#define PROMOE_CLI_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "hardware/hardware.h"

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
    const char *summary;
} cli_command;

/* Runs the subcommand named by argv[1] from cmds (NULL-name terminated);
 * `prefix` is the command path so far ("promoe", "promoe trace"). */
int cli_dispatch(const char *prefix, const cli_command *cmds, int argc, char **argv);

/* getopt_long that reports unknown options and missing arguments itself as
 * one line naming CMD, and returns '?' for them. */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
               const char *cmd);

/* "promoe CMD: message (see 'promoe CMD --help')"; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "promoe: message" from a library error; returns CLI_FAILED. */
int cli_fail(const promoe_err *err);
/* A preset's loading failed with rc: a name that is no preset is a wrong
 * command line (status 2), a file that does not read a failure (1). */
int cli_fail_preset(const char *cmd, int rc, const promoe_err *err);

/* Parse an option's value; on error print a usage line and return -1. */
int cli_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                  long long *out);
/* The same into an int (lo and hi within int's range). */
int cli_parse_int_to(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out);
int cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out);

/* Parses --compression's value into *out; prints a usage line on error. */
int cli_parse_compression(const char *cmd, const char *s, int *out);

/* Loads hardware preset or file NAME into *hw and applies the n "--set
 * KEY=VALUE" overrides; returns CLI_OK, or prints the error and returns
 * CLI_FAILED (the preset) or CLI_USAGE (an override). */
int cli_load_hw(const char *cmd, const char *name, const char *const *sets, int n, hw_desc *hw);

struct exec_backend_ops;
/* The executor backend NAME (--backend) into *ops; CLI_OK, or a usage
 * error saying which backends this build has. */
int cli_find_backend(const char *cmd, const char *name, const struct exec_backend_ops **ops);

/* A progress line on stderr (only when it is a terminal), at most a few
 * times a second; cli_progress_done ends it. */
void cli_progress(const char *what, int64_t done, int64_t total);
void cli_progress_done(void);

/* Prints o as one compact JSON line (keys in insertion order, reals with
 * `precision` significant digits) and releases it. */
void cli_print_json(json_t *o, int precision);

int cmd_trace(int argc, char **argv);
int cmd_trace_gen(int argc, char **argv);
int cmd_trace_import(int argc, char **argv);
int cmd_trace_export(int argc, char **argv);
int cmd_trace_info(int argc, char **argv);
int cmd_trace_popularity(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_sweep_summarize(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_systems(int argc, char **argv);
/* A help text's list of the system presets, a line each (name and what it
 * models); only those the executor runs if exec_only. */
void cli_list_systems(FILE *out, int exec_only);

#endif
