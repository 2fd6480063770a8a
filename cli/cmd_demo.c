/* cmd_demo.c - `promoe demo`: the main job on built-in defaults.
 *
 * Generates a small synthetic trace and replays it under the named systems
 * side by side, with speedups over reactive-lru, in two regimes: an
 * efficient engine and the framework the paper measured in. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/blas.h"
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
    "Generates a small synthetic trace (8 requests of a DeepSeek-MoE-16B-shaped\n"
    "model, the paper's main one, by default) and replays it with 'promoe sim' under\n"
    "every named system (all-gpu, reactive-lru, paper-lru, mixtral-offloading,\n"
    "moe-infinity, pre-gated, hobbit, fiddler, monde, promoe, promoe-plus, oracle),\n"
    "printing prefill and decode latency, the speedups over reactive-lru, and the\n"
    "share of expert work done in low precision or on the host.  It does so in two\n"
    "regimes: an efficient engine (rtx4090-pcie4, llama.cpp-like, where a decode\n"
    "step is bound by the link) and Hugging Face transformers on the same machine\n"
    "(rtx4090-transformers, the paper's setting, where a layer's own time can hide\n"
    "copies), and ends with promoe's speedup over the paper's LRU baseline\n"
    "(paper-lru) in each.  A system whose preferred predictor this build lacks runs\n"
    "with the next one it names (marked *).\n"
    "The learned predictor (promoe, promoe-plus) and monde's popular set come from\n"
    "a second trace of other requests of the same model; the predictor is trained\n"
    "once, 256 units wide (its default is 1024: on the demo's 64-wide hidden states\n"
    "both predict alike, and this trains in a quarter of the time), and shared by\n"
    "both systems.  The traces are written to a temporary folder and removed; -o\n"
    "keeps the replayed one.  A progress line on a terminal says what it is doing.\n"
    "\n"
    "  -m, --model NAME       model preset (default deepseek-moe-16b)\n"
    "      --hw NAME[,NAME]   hardware presets, a table each (default\n"
    "                         rtx4090-pcie4,rtx4090-transformers)\n"
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
    "all-gpu", "reactive-lru", "paper-lru", "mixtral-offloading", "moe-infinity", "pre-gated",
    "hobbit", "fiddler", "monde", "promoe", "promoe-plus", "oracle"};
enum { NUM_SYSTEMS = sizeof demo_systems / sizeof demo_systems[0], BASELINE = 1, MAX_REGIMES = 4 };

/* The index of a system in demo_systems. */
static int demo_index(const char *name)
{
    for (int i = 0; i < NUM_SYSTEMS; i++)
        if (strcmp(demo_systems[i], name) == 0)
            return i;
    return BASELINE;
}

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

static double speedup(double baseline, double ours)
{
    return ours > 0 ? baseline / ours : 0;
}

/* Runs every system on the trace and prints the table into res.  The
 * learned predictor is trained once (*learned_stride is 0 until then),
 * saved to learned_path, and loaded by each system that prefers it at the
 * stride it was trained for. */
static int compare_systems(const char *path, const char *train, const char *learned_path,
                           const sim_config *base, int has_hidden, int *learned_stride,
                           sim_result res[NUM_SYSTEMS], promoe_err *err)
{
    char predictor[NUM_SYSTEMS][PATH_MAX + 128];
    int fell_back[NUM_SYSTEMS];
    for (int i = 0; i < NUM_SYSTEMS; i++) {
        system_desc sys;
        sim_config cfg = *base;
        char name[64];
        if (system_load(demo_systems[i], &sys, err) < 0 ||
            system_apply(&sys, &cfg.offload, &cfg.cost.model, has_hidden, train, predictor[i], sizeof predictor[i],
                         &fell_back[i], err) < 0)
            return -1;
        const char *options = options_split_spec(predictor[i], name, sizeof name);
        if (strcmp(name, "learned") == 0 &&
            (!*learned_stride || *learned_stride == cfg.offload.stride)) {
            if (!*learned_stride) {
                if (train_learned(path, options, cfg.offload.stride, cfg.seed, learned_path, err) < 0)
                    return promoe_err_prefix(err, "system %s", demo_systems[i]);
                *learned_stride = cfg.offload.stride;
            }
            snprintf(predictor[i], sizeof predictor[i], "learned:file=%s", learned_path);
            options = options_split_spec(predictor[i], name, sizeof name);
        }
        cfg.offload.predictor_options = options;
        cfg.offload.predictor = name;
        snprintf(progress_label, sizeof progress_label, "%s: replaying under %s (%d of %d)",
                 base->cost.hw.name, demo_systems[i], i + 1, NUM_SYSTEMS);
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
               speedup(b->ttft_ms_mean, r->ttft_ms_mean), speedup(b->tpot_ms_mean, r->tpot_ms_mean),
               r->lowbit_share,
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

/* promoe against the paper's LRU baseline and reactive-lru, a line a regime. */
static void print_regimes(const sim_config *regimes, sim_result (*res)[NUM_SYSTEMS], int n)
{
    printf("\nWhere proactive caching pays: promoe's speedup, decode / prefill\n"
           "%-22s %16s %16s %16s\n", "", "over paper-lru", "over reactive-lru",
           "compute / copy");
    for (int h = 0; h < n; h++) {
        const sim_result *p = &res[h][demo_index("promoe")], *rl = &res[h][BASELINE];
        const sim_result *pl = &res[h][demo_index("paper-lru")];
        printf("%-22s %7.2fx / %.2fx %7.2fx / %.2fx %16.3f\n", regimes[h].cost.hw.name,
               speedup(pl->tpot_ms_mean, p->tpot_ms_mean), speedup(pl->ttft_ms_mean, p->ttft_ms_mean),
               speedup(rl->tpot_ms_mean, p->tpot_ms_mean), speedup(rl->ttft_ms_mean, p->ttft_ms_mean),
               cost_compute_per_copy(&regimes[h].cost));
    }
    printf("(compute / copy: a decode layer's compute time over one expert's copy time.  A\n"
           "prefetch can hide only behind compute: where a layer computes for a small part\n"
           "of a copy, decode waits on the link whatever is prefetched.)\n");
}

int cmd_demo(int argc, char **argv)
{
    const char *cmd = "demo", *model_name = "deepseek-moe-16b", *keep = NULL;
    const char *hw = "rtx4090-pcie4,rtx4090-transformers";
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
    blas_one_thread();
    promoe_err err;
    sim_config base, regimes[MAX_REGIMES];
    sim_config_defaults(&base);
    int loaded = model_load(model_name, &base.cost.model, &err), n_regimes = 0;
    char hw_list[256];
    snprintf(hw_list, sizeof hw_list, "%s", hw);
    for (char *save = NULL, *name = strtok_r(hw_list, ",", &save); loaded == 0 && name;
         name = strtok_r(NULL, ",", &save)) {
        if (n_regimes == MAX_REGIMES)
            return cli_usage_error(cmd, "--hw names at most %d presets", MAX_REGIMES);
        regimes[n_regimes] = base;
        loaded = hw_load(name, &regimes[n_regimes++].cost.hw, &err);
    }
    if (loaded < 0)
        return cli_fail_preset(cmd, loaded, &err);
    if (n_regimes == 0)
        return cli_usage_error(cmd, "--hw names no preset");
    const model_desc *m = &base.cost.model;
    trace_gen_model_defaults(&p, m);
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
        printf("promoe demo: %s, expert cache of %lld of %d experts (%s)\n"
               "synthetic trace: %d requests, %lld tokens, seed %lu; the learned predictor is "
               "trained on %lld tokens of other requests\n", m->name,
               (long long)base.offload.slots, m->num_layers * m->num_experts, cache, p.num_requests,
               (long long)tokens, p.seed, (long long)train_tokens);
        static sim_result res[MAX_REGIMES][NUM_SYSTEMS];
        int learned_stride = 0;
        for (int h = 0; h < n_regimes && rc == CLI_OK; h++) {
            regimes[h].offload.slots = base.offload.slots;
            printf("\non %s:\n", regimes[h].cost.hw.name);
            fflush(stdout);
            if (compare_systems(path, train, learned, &regimes[h], (p.content & TRACE_HIDDEN) != 0,
                                &learned_stride, res[h], &err) < 0)
                rc = cli_fail(&err);
        }
        if (rc == CLI_OK)
            print_regimes(regimes, res, n_regimes);
    }
    if (!keep)
        unlink(path);
    unlink(train);
    unlink(learned);
    rmdir(dir);
    return rc;
}
