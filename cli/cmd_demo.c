/* cmd_demo.c - `promoe demo`: the main job on built-in defaults.
 *
 * Until the simulator lands, the demo generates a synthetic trace of a
 * Mixtral-8x7B-shaped model and prints its `trace info` summary. */
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "models/model.h"
#include "traces/trace_gen.h"

static const char usage[] =
    "usage: promoe demo [OPTIONS]\n"
    "\n"
    "Generates a small synthetic trace (8 requests of a Mixtral-8x7B-shaped model by\n"
    "default) and prints its summary, as 'promoe trace gen' and 'promoe trace info'\n"
    "would.  The trace is written to a temporary file and removed unless -o is given.\n"
    "\n"
    "  -m, --model NAME       model preset (default mixtral-8x7b)\n"
    "      --requests N       number of requests (default 8)\n"
    "      --seed N           random seed (default 1)\n"
    "  -o, --output FILE      keep the trace in FILE\n"
    "  -h, --help             show this help\n";

enum { OPT_REQUESTS = 256, OPT_SEED };

static const struct option options[] = {
    {"model", required_argument, NULL, 'm'},
    {"requests", required_argument, NULL, OPT_REQUESTS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_demo(int argc, char **argv)
{
    const char *cmd = "demo", *model_name = "mixtral-8x7b", *keep = NULL;
    trace_gen_params p;
    trace_gen_defaults(&p);
    long long v;
    int c;
    while ((c = cli_getopt(argc, argv, "m:o:h", options, cmd)) != -1) {
        switch (c) {
        case 'm': model_name = optarg; break;
        case 'o': keep = optarg; break;
        case OPT_REQUESTS:
            if (cli_parse_int(cmd, "--requests", optarg, 1, 100000, &v) < 0)
                return CLI_USAGE;
            p.num_requests = (int)v;
            break;
        case OPT_SEED:
            if (cli_parse_int(cmd, "--seed", optarg, 0, 0xffffffffLL, &v) < 0)
                return CLI_USAGE;
            p.seed = (unsigned long)v;
            break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    promoe_err err;
    model_desc m;
    if (model_load(model_name, &m, &err) < 0)
        return cli_fail(&err);
    char dir[PATH_MAX] = "", path[PATH_MAX + 16];
    if (keep) {
        snprintf(path, sizeof path, "%s", keep);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/promoe-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            promoe_err_set(&err, "%s: cannot create a temporary folder", dir);
            return cli_fail(&err);
        }
        snprintf(path, sizeof path, "%s/demo.h5", dir);
    }
    printf("promoe demo: synthetic %s trace, %d requests, seed %lu\n\n", m.name, p.num_requests,
           p.seed);
    trace_stats s;
    int rc = CLI_OK;
    if (trace_gen_write(&p, &m, path, NULL, &err) < 0 || trace_stats_compute(path, &s, NULL, &err) < 0) {
        rc = cli_fail(&err);
    } else {
        cli_print_trace_info(stdout, keep ? keep : "(temporary)", &s);
        trace_stats_free(&s);
    }
    if (!keep) {
        unlink(path);
        rmdir(dir);
    }
    return rc;
}
