/* cmd_sweep_summarize.c - `promoe sweep summarize`: a metric of a sweep's
 * results by group, with confidence intervals, as a table gnuplot reads. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "experiments/results.h"
#include "experiments/summary.h"

static const char usage[] =
    "usage: promoe sweep summarize RESULTS --metric COLUMN [OPTIONS]\n"
    "\n"
    "Groups the rows of a sweep's results (RESULTS is NAME.jsonl, or NAME.csv\n"
    "beside it) by the --by columns and prints, per group, the number of rows,\n"
    "the mean of COLUMN and its confidence interval (Student's t over the rows,\n"
    "typically the seeds), one group a line, in the order first seen:\n"
    "  # BY... n mean lo hi sd\n"
    "Values with spaces are quoted, so gnuplot reads the table as it is, e.g.\n"
    "  plot '< promoe sweep summarize R.jsonl --metric tpot_ms --by cache' \\\n"
    "       using 1:3:4:5 with yerrorlines\n"
    "Only the latest successful run of each point is used.\n"
    "\n"
    "  -m, --metric COLUMN        the number to summarize (required)\n"
    "  -b, --by A[,B...]          columns to group by (default: one group)\n"
    "  -w, --where COLUMN=VALUE   only rows where COLUMN is VALUE (may be repeated)\n"
    "  -s, --speedup-over AXIS=VALUE\n"
    "                             summarize instead, row by row, the baseline's\n"
    "                             metric over the row's: the baseline is the same\n"
    "                             point with AXIS set to VALUE (a speedup, for a\n"
    "                             time)\n"
    "  -l, --level P              confidence level of the interval (default 0.95)\n"
    "  -h, --help                 show this help\n";

static const struct option options[] = {
    {"metric", required_argument, NULL, 'm'},
    {"by", required_argument, NULL, 'b'},
    {"where", required_argument, NULL, 'w'},
    {"speedup-over", required_argument, NULL, 's'},
    {"level", required_argument, NULL, 'l'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void put_value(const char *v)
{
    if (*v && !strpbrk(v, " \t\"")) {
        fputs(v, stdout);
        return;
    }
    putchar('"'); /* gnuplot's quoting: double quotes, no escapes inside */
    for (; *v; v++)
        putchar(*v == '"' ? '\'' : *v);
    putchar('"');
}

int cmd_sweep_summarize(int argc, char **argv)
{
    const char *cmd = "sweep summarize";
    summary_opts o = {.level = 0.95};
    char by_buf[1024] = "";
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "m:b:w:s:l:h", options, cmd)) != -1) {
        switch (c) {
        case 'm': o.metric = optarg; break;
        case 'b': snprintf(by_buf, sizeof by_buf, "%s", optarg); break;
        case 'w':
            if (o.num_where == SUMMARY_MAX_WHERE)
                return cli_usage_error(cmd, "more than %d --where", SUMMARY_MAX_WHERE);
            if (!strchr(optarg, '='))
                return cli_usage_error(cmd, "--where %s: expected COLUMN=VALUE", optarg);
            o.where[o.num_where++] = optarg;
            break;
        case 's':
            if (!strchr(optarg, '='))
                return cli_usage_error(cmd, "--speedup-over %s: expected AXIS=VALUE", optarg);
            o.baseline = optarg;
            break;
        case 'l':
            if (cli_parse_double(cmd, "--level", optarg, 0.5, 0.9999, &o.level) < 0)
                return CLI_USAGE;
            break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(cmd, "one results file, please");
    if (!o.metric)
        return cli_usage_error(cmd, "--metric is required");
    for (char *s = strtok(by_buf, ","); s; s = strtok(NULL, ",")) {
        if (o.num_by == SUMMARY_MAX_BY)
            return cli_usage_error(cmd, "--by: more than %d columns", SUMMARY_MAX_BY);
        o.by[o.num_by++] = s;
    }
    char path[4096];
    const char *given = argv[optind];
    size_t n = strlen(given);
    if (n > 4 && strcmp(given + n - 4, ".csv") == 0)
        snprintf(path, sizeof path, "%.*s.jsonl", (int)(n - 4), given);
    else
        snprintf(path, sizeof path, "%s", given);
    promoe_err err;
    results r;
    if (access(path, R_OK) != 0) {
        promoe_err_set(&err, "%s: no such results file (run the sweep first)", path);
        return cli_fail(&err);
    }
    if (results_load(path, &r, &err) < 0)
        return cli_fail(&err);
    summary s;
    int rc = summary_compute(&r, &o, &s, &err);
    results_free(&r);
    if (rc < 0)
        return cli_fail(&err);
    fputs("#", stdout);
    for (int b = 0; b < o.num_by; b++)
        printf(" %s", o.by[b]);
    puts(" n mean lo hi sd");
    for (long g = 0; g < s.num_groups; g++) {
        const summary_group *sg = &s.groups[g];
        for (int b = 0; b < o.num_by; b++) {
            put_value(sg->values[b]);
            putchar(' ');
        }
        printf("%ld %.10g %.10g %.10g %.10g\n", sg->n, sg->mean, sg->lo, sg->hi, sg->sd);
    }
    if (s.rows_without_baseline)
        fprintf(stderr, "promoe sweep summarize: %ld rows have no successful baseline run (%s) "
                "and were left out\n", s.rows_without_baseline, o.baseline);
    summary_free(&s);
    return CLI_OK;
}
