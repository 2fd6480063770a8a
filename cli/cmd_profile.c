/* cmd_profile.c - `promoe profile`: measure this machine for the
 * simulator's cost model. */
#include <string.h>

#include "cli/cli.h"
#include "exec/profile_writer.h"
#include "exec/weights.h"
#include "exec/weights_safetensors.h"

static const char usage[] =
    "usage: promoe profile --model NAME -o PROFILE.json [OPTIONS]\n"
    "\n"
    "Measures, on the executor, the operations the simulator prices: a layer's\n"
    "attention (at two contexts, for the cost of each cached token, and with\n"
    "nothing cached, as a prompt's first step), the router,\n"
    "one routed expert and the shared experts for 1 to 64 tokens, and copies of\n"
    "a chunk, an expert and four experts through the copy thread (memcpy, or the\n"
    "GPU's copy stream from pinned memory; hand-over included); writes them as\n"
    "the table 'promoe sim --profile PROFILE.json' reads, so the simulator prices\n"
    "runs with this machine's times.  On the GPU the operations are timed by CUDA\n"
    "events.  The cpu backend takes a step's tokens together, so each operation\n"
    "is measured at 1, 2, 4, ..., 64 tokens; the cuda backend steps a token at a\n"
    "time, so t tokens cost t times one.  Where a model with every expert resident\n"
    "fits, whole steps are timed too, and what they take beyond their parts is\n"
    "written as the step's fixed cost (step_fixed: the output head, norms; on a\n"
    "GPU, launches and the routing's round trips), which 'promoe sim' adds once a\n"
    "step.\n"
    "\n"
    "  -m, --model NAME       model preset or .ini (required; its fp32 weights must\n"
    "                         fit in memory)\n"
    "      --weights W        synthetic (default) or a checkpoint, as 'promoe exec\n"
    "                         --weights' takes it\n"
    "      --backend B        cpu (default), or cuda where built: fp16 on the GPU,\n"
    "                         copies from pinned host memory on a copy stream\n"
    "      --seed N           seed of the synthetic weights (default 1)\n"
    "      --context C        cached tokens at the first attention point (default\n"
    "                         256; the second is 4 C)\n"
    "      --reps N           runs a point, the median kept (default 15)\n"
    "  -o, --output FILE      where to write the profile (atomically; required)\n"
    "  -h, --help             show this help\n";

enum { OPT_BACKEND = 256, OPT_SEED, OPT_CONTEXT, OPT_REPS, OPT_WEIGHTS };

static const struct option options[] = {
    {"model", required_argument, NULL, 'm'},
    {"weights", required_argument, NULL, OPT_WEIGHTS},
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"seed", required_argument, NULL, OPT_SEED},
    {"context", required_argument, NULL, OPT_CONTEXT},
    {"reps", required_argument, NULL, OPT_REPS},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_profile(int argc, char **argv)
{
    const char *cmd = "profile", *model = NULL, *backend = "cpu", *out = NULL;
    const char *weights = "synthetic";
    long long seed = 1;
    exec_profile_config cfg = {.context = 256, .reps = 15};
    int c;
    while ((c = cli_getopt(argc, argv, "m:o:h", options, cmd)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case OPT_BACKEND: backend = optarg; break;
        case OPT_WEIGHTS: weights = optarg; break;
        case OPT_SEED:
            if (cli_parse_int(cmd, "--seed", optarg, 0, 4294967295LL, &seed) < 0)
                return CLI_USAGE;
            break;
        case OPT_CONTEXT:
            if (cli_parse_int_to(cmd, "--context", optarg, 1, 1 << 20, &cfg.context) < 0)
                return CLI_USAGE;
            break;
        case OPT_REPS:
            if (cli_parse_int_to(cmd, "--reps", optarg, 1, 100000, &cfg.reps) < 0)
                return CLI_USAGE;
            break;
        case 'o': out = optarg; break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model)
        return cli_usage_error(cmd, "no model: give --model NAME (e.g. tiny)");
    if (!out)
        return cli_usage_error(cmd, "no output: give -o PROFILE.json");
    int rc = cli_find_backend(cmd, backend, &cfg.backend);
    if (rc != CLI_OK)
        return rc;
    promoe_err err;
    model_desc m;
    int loaded = model_load(model, &m, &err);
    if (loaded < 0)
        return cli_fail_preset(cmd, loaded, &err);
    exec_weights w;
    if (exec_weights_from(&m, weights, (unsigned long)seed, &w, &err) < 0)
        return cli_fail(&err);
    rc = exec_profile_write(&w, &cfg, out, &err);
    exec_weights_free(&w);
    if (rc < 0)
        return cli_fail(&err);
    printf("wrote %s: %s on the %s backend\n", out, m.name, backend);
    return CLI_OK;
}
