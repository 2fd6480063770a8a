/* cmd_demo.c - `promoe demo`: the main job on built-in defaults.
 *
 * Generates a small synthetic trace and replays it under the named systems
 * side by side, with speedups over reactive-lru. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/options.h"
#include "models/model.h"
#include "offload/cache.h"
#include "offload/system.h"
#include "predictors/predictor.h"
#include "sim/engine.h"
#include "traces/trace.h"
#include "traces/trace_gen.h"

static const char usage[] =
    "usage: promoe demo [OPTIONS]\n"
    "\n"
    "Generates a small synthetic trace (8 requests of a Mixtral-8x7B-shaped model by\n"
    "default) and replays it with 'promoe sim' under every named system (all-gpu,\n"
    "reactive-lru, mixtral-offloading, moe-infinity, pre-gated, hobbit, fiddler,\n"
    "monde, promoe, promoe-plus, oracle), printing prefill and decode latency, the\n"
    "speedups over reactive-lru, and the share of expert work done in low precision\n"
    "or on the host.  A system\n"
    "whose preferred predictor this build lacks runs with the next one it names\n"
    "(marked *).\n"
    "The learned predictor (promoe, promoe-plus) and monde's popular set come from\n"
    "a second trace of other requests of the same model; the predictor is trained\n"
    "once, 256 units wide (its default is 1024: on the demo's 64-wide hidden states\n"
    "both predict alike, and this trains in a quarter of the time), and shared by\n"
    "both systems.  The traces are written to a temporary folder and removed; -o\n"
    "keeps the replayed one.  A progress line on a terminal says what it is doing.\n"
    "\n"
    "  -m, --model NAME       model preset (default mixtral-8x7b)\n"
    "      --hw NAME          hardware preset (default rtx4090-pcie4)\n"
    "  -c, --cache SIZE       expert cache size (default 0.5: half of the experts; as\n"
    "                         'promoe sim --cache' reads it)\n"
    "      --requests N       number of requests (default 8)\n"
    "      --seed N           random seed (default 1)\n"
    "  -o, --output FILE      keep the trace in FILE\n"
    "  -h, --help             show this help\n";

enum { OPT_REQUESTS = 256, OPT_SEED, OPT_HW };

static const struct option options[] = {
    {"model", required_argument, NULL, 'm'},
    {"hw", required_argument, NULL, OPT_HW},
    {"cache", required_argument, NULL, 'c'},
    {"requests", required_argument, NULL, OPT_REQUESTS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char *const demo_systems[] = {
    "all-gpu", "reactive-lru", "mixtral-offloading", "moe-infinity", "pre-gated", "hobbit",
    "fiddler", "monde", "promoe", "promoe-plus", "oracle"};
enum { NUM_SYSTEMS = sizeof demo_systems / sizeof demo_systems[0], BASELINE = 1 };

static char progress_label[128];

static void show_progress(int64_t done, int64_t total)
{
    cli_progress(progress_label, done, total);
}

/* Trains the learned predictor (spec: its options as a system gives them,
 * with its training trace) once for the trace at path, at `stride`, and
 * saves it to out.  A quarter of its default width: the demo's hidden
 * states are 64 wide, where 256 units predict as well as 1024 (decode
 * 236.7 against 236.4 ms a token, prefetch accuracy 0.536 against 0.533)
 * in a quarter of the time. */
static int train_learned(const char *path, const char *options, int stride, unsigned long seed,
                         const char *out, promoe_err *err)
{
    const predictor_ops *ops = predictor_find("learned");
    char opts[PATH_MAX + 256];
    snprintf(opts, sizeof opts, "hidden=256,%s", options);
    trace_reader *r = trace_reader_open(path, TRACE_HIDDEN, err);
    if (!r)
        return -1;
    predictor_env base = {.stride_lo = stride, .stride_hi = stride, .seed = seed,
                          .progress = cli_progress};
    void *st = predictor_create_for_trace(ops, opts, r, path, &base, err);
    trace_reader_close(r);
    cli_progress_done();
    if (!st)
        return -1;
    int rc = ops->save(st, out, err);
    ops->destroy(st);
    return rc;
}

/* Runs every system on the trace and prints the table.  The learned
 * predictor is trained once, saved to learned_path, and loaded by each
 * system that prefers it at the stride it was trained for. */
static int compare_systems(const char *path, const char *train, const char *learned_path,
                           sim_config *base, int has_hidden, promoe_err *err)
{
    sim_result res[NUM_SYSTEMS];
    char predictor[NUM_SYSTEMS][PATH_MAX + 128];
    int fell_back[NUM_SYSTEMS], learned_stride = 0;
    for (int i = 0; i < NUM_SYSTEMS; i++) {
        system_desc sys;
        sim_config cfg = *base;
        char name[64];
        if (system_load(demo_systems[i], &sys, err) < 0 ||
            system_apply(&sys, &cfg.offload, &cfg.cost.model, has_hidden, train, predictor[i], sizeof predictor[i],
                         &fell_back[i], err) < 0)
            return -1;
        const char *options = options_split_spec(predictor[i], name, sizeof name);
        if (strcmp(name, "learned") == 0 && (!learned_stride || learned_stride == cfg.offload.stride)) {
            if (!learned_stride) {
                if (train_learned(path, options, cfg.offload.stride, cfg.seed, learned_path, err) < 0)
                    return promoe_err_prefix(err, "system %s", demo_systems[i]);
                learned_stride = cfg.offload.stride;
            }
            snprintf(predictor[i], sizeof predictor[i], "learned:file=%s", learned_path);
            options = options_split_spec(predictor[i], name, sizeof name);
        }
        cfg.offload.predictor_options = options;
        cfg.offload.predictor = name;
        snprintf(progress_label, sizeof progress_label, "replaying under %s (%d of %d)",
                 demo_systems[i], i + 1, NUM_SYSTEMS);
        cfg.progress = show_progress;
        int rc = sim_run(path, &cfg, &res[i], err);
        cli_progress_done();
        if (rc < 0)
            return promoe_err_prefix(err, "system %s", demo_systems[i]);
    }
    const sim_result *b = &res[BASELINE];
    printf("%-19s %-13s %10s %10s %9s %9s %9s %8s %8s\n", "system", "predictor", "TTFT ms",
           "TPOT ms", "hit rate", "prefill x", "decode x", "low-bit", "on host");
    for (int i = 0; i < NUM_SYSTEMS; i++) {
        const sim_result *r = &res[i];
        char pred[140];
        /* a trained predictor's name only: its options name the training trace */
        snprintf(pred, sizeof pred, "%.*s%s", (int)strcspn(predictor[i], ":"), predictor[i],
                 fell_back[i] ? "*" : "");
        double demands = r->counts.demands > 0 ? (double)r->counts.demands : 1;
        printf("%-19s %-13s %10.2f %10.3f %9.3f %9.2f %9.2f %8.3f %8.3f\n", demo_systems[i], pred,
               r->ttft_ms_mean, r->tpot_ms_mean, r->hit_rate,
               r->ttft_ms_mean > 0 ? b->ttft_ms_mean / r->ttft_ms_mean : 0,
               r->tpot_ms_mean > 0 ? b->tpot_ms_mean / r->tpot_ms_mean : 0, r->lowbit_share,
               (double)r->counts.cpu_computed / demands);
    }
    int any = 0;
    for (int i = 0; i < NUM_SYSTEMS; i++)
        any |= fell_back[i];
    if (any)
        printf("\n* the system's preferred predictor could not run here (not built yet, or it "
               "needs training data); it ran with this one.\n");
    return 0;
}

int cmd_demo(int argc, char **argv)
{
    const char *cmd = "demo", *model_name = "mixtral-8x7b", *keep = NULL, *hw = "rtx4090-pcie4";
    const char *cache = "0.5";
    trace_gen_params p;
    trace_gen_defaults(&p);
    /* ids and gate weights (hobbit), plus small hidden states and the
     * router weights, so that mixtral-offloading can apply the next layer's
     * gate */
    p.content = TRACE_WEIGHTS | TRACE_HIDDEN | TRACE_ROUTER_WEIGHT;
    p.hidden_dim = 64;
    long long v;
    int c;
    while ((c = cli_getopt(argc, argv, "m:c:o:h", options, cmd)) != -1) {
        switch (c) {
        case 'm': model_name = optarg; break;
        case OPT_HW: hw = optarg; break;
        case 'c': cache = optarg; break;
        case 'o': keep = optarg; break;
        case OPT_REQUESTS:
            if (cli_parse_int_to(cmd, "--requests", optarg, 1, 100000, &p.num_requests) < 0)
                return CLI_USAGE;
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
    sim_config base;
    sim_config_defaults(&base);
    int loaded = model_load(model_name, &base.cost.model, &err);
    if (loaded == 0)
        loaded = hw_load(hw, &base.cost.hw, &err);
    if (loaded < 0)
        return cli_fail_preset(cmd, loaded, &err);
    const model_desc *m = &base.cost.model;
    if (cache_size_parse(cache, m->num_layers, m->num_experts, model_expert_bytes(m), &base.offload.slots,
                         &err) < 0)
        return cli_usage_error(cmd, "%s", err.msg);
    /* the replay trace (kept with -o) and, in a temporary folder, a trace
     * of other requests of the same model to train the learned predictor */
    char dir[PATH_MAX] = "", path[PATH_MAX + 16], train[PATH_MAX + 16], learned[PATH_MAX + 16];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/promoe-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        promoe_err_set(&err, "%s: cannot create a temporary folder", dir);
        return cli_fail(&err);
    }
    snprintf(path, sizeof path, "%s", keep ? keep : "");
    if (!keep)
        snprintf(path, sizeof path, "%s/demo.h5", dir);
    snprintf(train, sizeof train, "%s/train.h5", dir);
    snprintf(learned, sizeof learned, "%s/learned.h5", dir);
    int rc = CLI_OK;
    int64_t tokens = 0, train_tokens = 0;
    p.progress = show_progress;
    trace_gen_params tp = p;
    tp.token_seed = p.seed + 1; /* same model, other requests */
    snprintf(progress_label, sizeof progress_label, "generating the traces");
    int made = trace_gen_write(&p, m, path, &tokens, &err) == 0 &&
               trace_gen_write(&tp, m, train, &train_tokens, &err) == 0;
    cli_progress_done();
    if (!made) {
        rc = cli_fail(&err);
    } else {
        printf("promoe demo: %s on %s, expert cache of %lld of %d experts (%s)\n"
               "synthetic trace: %d requests, %lld tokens, seed %lu; the learned predictor is "
               "trained on %lld tokens of other requests\n\n", m->name, base.cost.hw.name,
               (long long)base.offload.slots, m->num_layers * m->num_experts, cache, p.num_requests,
               (long long)tokens, p.seed, (long long)train_tokens);
        fflush(stdout);
        if (compare_systems(path, train, learned, &base, (p.content & TRACE_HIDDEN) != 0, &err) < 0)
            rc = cli_fail(&err);
    }
    if (!keep)
        unlink(path);
    unlink(train);
    unlink(learned);
    rmdir(dir);
    return rc;
}
