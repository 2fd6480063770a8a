#include "cli/cli.h"
#include "common/clock.h"
#include "common/preset.h"
#include "exec/backend.h"
#include "exec/cuda_probe.h"
#include "traces/trace.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_dispatch(const char *prefix, const cli_command *cmds, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "usage: %s COMMAND [OPTIONS]\n\ncommands:\n", prefix);
        for (const cli_command *c = cmds; c->name; c++)
            fprintf(out, "  %-10s %s\n", c->name, c->summary);
        fprintf(out, "\nRun '%s COMMAND --help' for a command's options.\n", prefix);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    for (const cli_command *c = cmds; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0) {
            optind = 0; /* each command parses its own options afresh */
            return c->run(argc - 1, argv + 1);
        }
    fprintf(stderr, "%s: unknown command '%s' (see '%s --help')\n", prefix, argv[1], prefix);
    return CLI_USAGE;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[PROMOE_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "promoe %s: %s (see 'promoe %s --help')\n", cmd, msg, cmd);
    return CLI_USAGE;
}

int cli_fail(const promoe_err *err)
{
    fprintf(stderr, "promoe: %s\n", err->msg);
    return CLI_FAILED;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
               const char *cmd)
{
    /* A leading ':' makes getopt tell a missing value (':') from an
     * unknown option ('?'). */
    char opts[128];
    snprintf(opts, sizeof opts, ":%s", shortopts);
    opterr = 0;
    int c = getopt_long(argc, argv, opts, longopts, NULL);
    if (c != '?' && c != ':')
        return c;
    const char *arg = argv[optind - 1];
    size_t name_len = strcspn(arg, "=");
    if (c == ':')
        cli_usage_error(cmd, "option '%s' needs a value", arg);
    else if (strncmp(arg, "--", 2) == 0 && optopt)
        cli_usage_error(cmd, "option '%.*s' takes no value", (int)name_len, arg);
    else if (strncmp(arg, "--", 2) == 0)
        cli_usage_error(cmd, "unknown option '%.*s'", (int)name_len, arg);
    else
        cli_usage_error(cmd, "unknown option '-%c'", optopt);
    return '?';
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                  long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_usage_error(cmd, "%s: expected an integer in [%lld, %lld], got '%s'", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_int_to(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out)
{
    long long v;
    if (cli_parse_int(cmd, opt, s, lo, hi, &v) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        cli_usage_error(cmd, "%s: expected a number in [%g, %g], got '%s'", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_compression(const char *cmd, const char *s, int *out)
{
    int c = trace_compression_parse(s);
    if (c < 0) {
        cli_usage_error(cmd, "--compression: expected gzip or none, got '%s'", s);
        return -1;
    }
    *out = c;
    return 0;
}

static double progress_last;
static int progress_shown, progress_tty = -1; /* -1: not asked yet */

void cli_progress(const char *what, int64_t done, int64_t total)
{
    if (progress_tty < 0) /* once: a replay reports thousands of times */
        progress_tty = isatty(STDERR_FILENO);
    if (!progress_tty)
        return;
    double t = clock_now_s();
    if (t - progress_last < 0.25)
        return;
    progress_last = t;
    progress_shown = 1;
    if (total > 0)
        fprintf(stderr, "\r%s: %lld / %lld (%.0f%%)   ", what, (long long)done,
                (long long)total, 100.0 * (double)done / (double)total);
    else
        fprintf(stderr, "\r%s: %lld   ", what, (long long)done);
}

void cli_progress_done(void)
{
    if (progress_shown)
        fputs("\r\033[K", stderr);
    progress_shown = 0;
}

int cli_fail_preset(const char *cmd, int rc, const promoe_err *err)
{
    return rc == PRESET_UNKNOWN ? cli_usage_error(cmd, "%s", err->msg) : cli_fail(err);
}

int cli_load_hw(const char *cmd, const char *name, const char *const *sets, int n, hw_desc *hw)
{
    promoe_err err;
    int rc = hw_load(name, hw, &err);
    if (rc < 0)
        return cli_fail_preset(cmd, rc, &err);
    for (int i = 0; i < n; i++)
        if (hw_set(hw, sets[i], &err) < 0)
            return cli_usage_error(cmd, "%s", err.msg); /* it names --set */
    return CLI_OK;
}

int cli_find_backend(const char *cmd, const char *name, const exec_backend_ops **ops)
{
    promoe_err err;
    if ((*ops = exec_backend_find(name, &err)))
        return CLI_OK;
    if (strcmp(name, "cuda") == 0 && exec_cuda_built())
        return cli_fail(&err); /* the plugin: a broken installation, not a command line */
    if (strcmp(name, "cuda") == 0)
        return cli_usage_error(cmd, "--backend cuda: this build has no CUDA (configure found no "
                               "toolkit; install it in /usr/local/cuda or give --with-cuda=DIR "
                               "and build again)");
    return cli_usage_error(cmd, "--backend %s: %s", name, err.msg);
}

void cli_print_json(json_t *o, int precision)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(precision));
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(o);
}
