/* cmd_sim.c - `promoe sim`: replay a trace against a cache configuration,
 * timed (the default) or counting hits only. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/blas.h"
#include "cli/offload_options.h"
#include "cli/report.h"
#include "common/options.h"
#include "common/units.h"
#include "models/model.h"
#include "offload/cache.h"
#include "offload/system.h"
#include "policies/policy.h"
#include "predictors/predictor.h"
#include "sim/engine.h"
#include "sim/hits.h"
#include "traces/trace.h"

static const char usage[] =
    "usage: promoe sim --trace T.h5 --cache SIZE [OPTIONS]\n"
    "\n"
    "Replays a trace against a GPU expert cache on a cost model of the model and\n"
    "the hardware, and reports latency, cache and prefetch figures.  Steps run one\n"
    "after another, closed loop (request arrival times are ignored): the trace's\n"
    "iterations, or with --batch N continuous batches of up to N requests.\n"
    "Prefetch quality is the paper's GoodPred = Accuracy x FetchRate, where\n"
    "accuracy = prefetches used / prefetches issued and fetch rate = prefetches\n"
    "complete when used / prefetches used (so GoodPred = in time / issued).\n"
    "\n"
    "  -t, --trace FILE       trace to replay (required)\n"
    "  -s, --system NAME      a named configuration (systems/NAME.ini, listed at the\n"
    "                         end, or a path to your own) setting the offloading\n"
    "                         options below and --predictor-us and --fault-us;\n"
    "                         options given explicitly override it.  'promoe\n"
    "                         systems' says what each needs.  to and lo keep whole\n"
    "                         layers in the budget of --cache's experts plus the\n"
    "                         non-expert weights\n"
    "      --train T.h5       a trace to train the system's predictor on, if it must\n"
    "                         be trained (promoe's learned): all of T's requests,\n"
    "                         so replay another trace (gen --token-seed)\n"
    "  -c, --cache SIZE       cache size (required): a share of all experts when\n"
    "                         written with a decimal point or as a percentage (0.25,\n"
    "                         1.0 = every expert, 25%), a number of slots when\n"
    "                         written with digits only (256), or bytes with a unit\n"
    "                         (12GiB)\n"
    "  -m, --model NAME       model preset or .ini (default: the trace's model, if a\n"
    "                         preset has that name)\n"
    "      --bits N           bits per weight of the model (16, 8, 4; default: the\n"
    "                         preset's): sizes experts, copies and compute reads;\n"
    "                         the paper runs Mixtral-8x7B and Qwen2-57B at 4\n"
    "      --hw NAME          hardware preset or .ini (default rtx4090-pcie4)\n"
    "      --profile P.json   measured times (as 'promoe profile' writes them) for\n"
    "                         attention, router, experts and copies, interpolated\n"
    "      --set KEY=VALUE    override a hardware number, e.g. --set pcie_gbps=12\n"
    "                         (may be repeated)\n"
    "      --predictor-us X   CPU time of one prediction, us (default 0)  [predictor_us]\n"
    "      --fault-us X       a fixed cost added to each chunk's copy (default 0):\n"
    "                         with chunks as pages, unified memory's fault handling\n"
    "                         [fault_us]\n"
    "      --batch N          continuous batching: each step runs the next recorded\n"
    "                         iteration (prompt or decode token) of up to N requests,\n"
    "                         admitted in trace order (default 1: as recorded)\n"
    "      --seed N           seed for randomised predictors (default 1)\n"
    "      --hits-only        no timing (needs no model or hardware), token by token,\n"
    "                         layer by layer: without a predictor, the hits of the\n"
    "                         cache policy alone (a plain access stream, experts in\n"
    "                         rank order, nothing pinned, as a reference cache\n"
    "                         simulator counts them); with --predictor (or a\n"
    "                         --system's), the decision engine with copies that\n"
    "                         take no time, each layer's prediction of the layer\n"
    "                         --stride ahead arriving at once\n"
    "  -j, --json             print one JSON object on one line\n"
    "      --csv              print a header line and one row\n"
    "  -h, --help             show this help\n"
    "\n" OFFLOAD_USAGE
    "\n"
    "The report's decisions_digest sums up every decision, one by one: equal\n"
    "digests, the same decisions (the decision engine's; --hits-only without a\n"
    "predictor: the plain stream's).\n";

enum {
    OPT_HITS = 256, OPT_CSV, OPT_HW, OPT_SET, OPT_BATCH, OPT_PROFILE, OPT_PRED_US, OPT_TRAIN,
    OPT_SEED, OPT_BITS, OPT_FAULT_US,
};

/* What the command line said; unset values leave the system's (or the
 * default) in place. */
typedef struct sim_cli {
    offload_overrides ov; /* the system's settings */
    const char *trace, *cache, *model, *hw, *system, *profile, *train;
    const char *sets[32];
    int num_sets, hits_only, json, csv, batch;
    int bits; /* -1: not given */
    long long seed;
} sim_cli;

static const struct option options[] = {
    {"trace", required_argument, NULL, 't'},
    {"system", required_argument, NULL, 's'},
    {"hits-only", no_argument, NULL, OPT_HITS},
    {"cache", required_argument, NULL, 'c'},
    {"model", required_argument, NULL, 'm'},
    {"hw", required_argument, NULL, OPT_HW},
    {"set", required_argument, NULL, OPT_SET},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"predictor-us", required_argument, NULL, OPT_PRED_US},
    {"train", required_argument, NULL, OPT_TRAIN},
    {"seed", required_argument, NULL, OPT_SEED},
    {"bits", required_argument, NULL, OPT_BITS},
    {"fault-us", required_argument, NULL, OPT_FAULT_US},
    OFFLOAD_LONG_OPTIONS,
    {"json", no_argument, NULL, 'j'},
    {"csv", no_argument, NULL, OPT_CSV},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* digest: room for 17 characters, alive until the report is printed */
static void report_hits(report *rep, const sim_hits_result *r, char *digest)
{
    const sim_hits_result *s = r;
    snprintf(digest, 17, "%016llx", (unsigned long long)s->digest);
    report_name(rep, "decisions_digest", digest);
    report_fig(rep, "cache_slots", "cache slots", (double)r->slots, 1);
    report_fig(rep, "tokens", "tokens", (double)s->tokens, 1);
    report_fig(rep, "accesses", "accesses", (double)s->accesses, 1);
    report_fig(rep, "hits", "hits", (double)s->hits, 1);
    report_fig(rep, "misses", "misses", (double)s->misses, 1);
    report_fig(rep, "evictions", "evictions", (double)s->evictions, 1);
    report_fig(rep, "hit_rate", "hit rate", sim_hits_rate(s), 0);
    report_fig(rep, "prefill_hit_rate", "hit rate, prefill tokens", sim_hits_prefill_rate(s), 0);
    report_fig(rep, "decode_hit_rate", "hit rate, decode tokens", sim_hits_decode_rate(s), 0);
    report_fig(rep, "prefetch_issued", "prefetches issued", (double)s->prefetch_issued, 1);
    report_fig(rep, "prefetch_useful", "prefetches useful", (double)s->prefetch_useful, 1);
}

/* digest: room for 17 characters, alive until the report is printed */
static void report_timed(report *rep, const sim_config *c, const sim_result *r, char *digest)
{
    snprintf(digest, 17, "%016llx", (unsigned long long)r->decisions_digest);
    report_name(rep, "decisions_digest", digest);
    report_fig(rep, "cache_slots", "cache slots", (double)r->slots, 1);
    report_fig(rep, "batch", "batch", c->batch, 1);
    report_fig(rep, "stride", "stride", c->offload.stride, 1);
    report_fig(rep, "staging", "staging buffers", c->offload.staging, 1);
    report_fig(rep, "chunks_per_expert", "chunks per expert", c->offload.chunks, 1);
    report_fig(rep, "fault_us", "fixed cost per chunk (us)", c->offload.fault_us, 0);
    report_fig(rep, "compute_per_copy", "decode layer compute / expert copy",
               cost_compute_per_copy(&c->cost), 0);
    if (c->offload.layer_offload) {
        report_name(rep, "layer_offload", c->offload.layer_offload == LAYER_OFFLOAD_STREAM ? "stream" : "cpu");
        report_fig(rep, "resident_layers", "layers resident on the GPU", r->resident_layers, 1);
    }
    report_fig(rep, "preempt", "preempt", c->offload.preempt, 1);
    report_fig(rep, "reorder", "reorder", c->offload.reorder, 1);
    report_fig(rep, "prefetch_by_gain", "prefetch by gain", c->offload.prefetch_by_gain, 1);
    report_fig(rep, "cpu_compute", "cpu compute", c->offload.cpu_compute, 1);
    report_fig(rep, "tokens", "tokens", (double)r->tokens, 1);
    report_fig(rep, "prefill_tokens", "prefill tokens", (double)r->prefill_tokens, 1);
    report_fig(rep, "decode_tokens", "decode tokens", (double)r->decode_tokens, 1);
    report_fig(rep, "iterations", "iterations", (double)r->iterations, 1);
    report_fig(rep, "total_s", "total time (s)", r->total_ns * 1e-9, 0);
    report_fig(rep, "prefill_ttft_ms_mean", "TTFT mean (ms)", r->ttft_ms_mean, 0);
    report_fig(rep, "prefill_ttft_ms_p50", "TTFT p50 (ms)", r->ttft_ms_p50, 0);
    report_fig(rep, "prefill_ttft_ms_p90", "TTFT p90 (ms)", r->ttft_ms_p90, 0);
    report_fig(rep, "prefill_ttft_ms_p99", "TTFT p99 (ms)", r->ttft_ms_p99, 0);
    report_fig(rep, "prefill_tokens_per_s", "prefill tokens/s", r->prefill_tokens_per_s, 0);
    report_fig(rep, "decode_tpot_ms_mean", "TPOT mean (ms)", r->tpot_ms_mean, 0);
    report_fig(rep, "decode_tpot_ms_p50", "TPOT p50 (ms)", r->tpot_ms_p50, 0);
    report_fig(rep, "decode_tpot_ms_p90", "TPOT p90 (ms)", r->tpot_ms_p90, 0);
    report_fig(rep, "decode_tpot_ms_p99", "TPOT p99 (ms)", r->tpot_ms_p99, 0);
    report_fig(rep, "decode_tokens_per_s", "decode tokens/s", r->decode_tokens_per_s, 0);
    report_counts(rep, &r->counts);
    report_fig(rep, "preemptions", "preemptions", (double)r->preemptions, 1);
    report_fig(rep, "pcie_bytes", "PCIe bytes", r->pcie_bytes, 1);
    report_fig(rep, "pcie_busy_share", "PCIe busy share", r->pcie_busy_share, 0);
    report_fig(rep, "gpu_stall_s", "GPU stalled on experts (s)", r->gpu_stall_ns * 1e-9, 0);
    report_fig(rep, "gpu_stall_share", "GPU stall share", r->gpu_stall_share, 0);
    report_fig(rep, "decode_compute_ms_mean", "GPU busy per decode step (ms)", r->decode_compute_ms_mean, 0);
    report_fig(rep, "decode_stall_ms_mean", "GPU stall per decode step (ms)", r->decode_stall_ms_mean, 0);
    report_fig(rep, "prefill_stall_share", "prefill time blocked on experts", r->prefill_stall_share, 0);
    report_fig(rep, "decode_stall_share", "decode time blocked on experts", r->decode_stall_share, 0);
}

static void show_progress(int64_t done, int64_t total)
{
    cli_progress("simulating tokens", done, total);
}

static int parse(int argc, char **argv, sim_cli *o)
{
    const char *cmd = "sim";
    long long v;
    int c;
    *o = (sim_cli){.hw = "rtx4090-pcie4", .seed = 1, .bits = -1, .batch = 1};
    while ((c = cli_getopt(argc, argv, "t:s:c:p:m:jh", options, cmd)) != -1) {
        switch (c) {
        case 't': o->trace = optarg; break;
        case 's': o->system = optarg; break;
        case OPT_HITS: o->hits_only = 1; break;
        case 'c': o->cache = optarg; break;
        case 'm': o->model = optarg; break;
        case OPT_HW: o->hw = optarg; break;
        case OPT_SET:
            if (o->num_sets == 32)
                return cli_usage_error(cmd, "too many --set options");
            o->sets[o->num_sets++] = optarg;
            break;
        case OPT_TRAIN: o->train = optarg; break;
        case OPT_PROFILE: o->profile = optarg; break;
        case OPT_BATCH:
            if (cli_parse_int_to(cmd, "--batch", optarg, 1, 65536, &o->batch) < 0)
                return CLI_USAGE;
            break;
        case OPT_PRED_US:
            if (offload_option_key(cmd, &o->ov, "--predictor-us", "predictor_us", optarg) < 0)
                return CLI_USAGE;
            break;
        case OPT_SEED:
            if (cli_parse_int(cmd, "--seed", optarg, 0, 0xffffffffLL, &o->seed) < 0)
                return CLI_USAGE;
            break;
        case 'j': o->json = 1; break;
        case OPT_CSV: o->csv = 1; break;
        case OPT_FAULT_US:
            if (offload_option_key(cmd, &o->ov, "--fault-us", "fault_us", optarg) < 0)
                return CLI_USAGE;
            break;
        case OPT_BITS:
            if (cli_parse_int_to(cmd, "--bits", optarg, 2, 32, &o->bits) < 0)
                return CLI_USAGE;
            break;
        case 'h':
            fputs(usage, stdout);
            cli_list_systems(stdout, 0);
            exit(CLI_OK);
        default:
            if (offload_option(cmd, c, optarg, &o->ov) <= 0)
                return CLI_USAGE;
            break;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->trace)
        return cli_usage_error(cmd, "no trace: give --trace T.h5");
    if (!o->cache)
        return cli_usage_error(cmd, "no cache size: give --cache (e.g. 0.25, 256 or 12GiB)");
    if (o->json && o->csv)
        return cli_usage_error(cmd, "choose one of --json and --csv");
    return offload_options_check(cmd, &o->ov);
}

int cmd_sim(int argc, char **argv)
{
    const char *cmd = "sim";
    sim_cli o;
    int rc = parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    blas_one_thread();
    promoe_err err;
    trace_meta meta;
    sim_config cfg;
    sim_config_defaults(&cfg);
    cfg.seed = (unsigned long)o.seed;
    if (trace_read_meta(o.trace, &meta, &err) < 0)
        return cli_fail(&err);
    int have_model = 0;
    if (o.model || !o.hits_only) {
        const char *which = o.model ? o.model : meta.model;
        int loaded = model_load(which, &cfg.cost.model, &err);
        if (loaded < 0) {
            if (!o.model)
                promoe_err_prefix(&err, "the trace's model has no preset: give --model");
            return cli_fail_preset(cmd, loaded, &err);
        }
        have_model = 1;
        if (o.bits > 0)
            cfg.cost.model.bits_per_weight = o.bits;
    } else if (o.bits > 0) {
        return cli_usage_error(cmd, "--bits needs a model: give --model, or leave out --hits-only");
    } else if (model_load(meta.model, &cfg.cost.model, NULL) == 0) {
        have_model = 1; /* the trace names a preset: its experts' size serves --cache 12GiB */
    }
    if (cache_size_parse(o.cache, meta.num_layers, meta.num_experts,
                         have_model ? model_expert_bytes(&cfg.cost.model) : 0, &cfg.offload.slots, &err) < 0)
        return cli_usage_error(cmd, "%s", err.msg);

    /* the system first, then what was said explicitly */
    char predictor[128] = "none", sysname[64] = "";
    int has_hidden = (meta.content & TRACE_HIDDEN) && (meta.content & TRACE_ROUTER_WEIGHT) &&
                     meta.hidden_layer_stride <= 1;
    system_desc sys; /* cfg points into it */
    if ((rc = offload_options_system(cmd, o.system, &o.ov, &sys)) != CLI_OK)
        return rc;
    if (offload_options_given(&o.ov, "chunk_bytes")) {
        int chunks;
        if (!have_model)
            return cli_usage_error(cmd, "--chunk-bytes needs a model to size experts");
        if (system_chunks_for_size(&cfg.cost.model, sys.chunk_bytes, &chunks, &err) < 0)
            return cli_usage_error(cmd, "--chunk-bytes: %s", err.msg);
    }
    if (!o.system) {
        if (system_settings(&sys, &cfg.offload, &cfg.cost.model, &err) < 0)
            return cli_fail(&err);
    } else {
        int fell_back;
        if (offload_options_need_train(cmd, &sys, o.train) != CLI_OK)
            return CLI_USAGE;
        if (system_apply(&sys, &cfg.offload, &cfg.cost.model, has_hidden, o.train, predictor,
                         sizeof predictor, &fell_back, &err) < 0)
            return cli_fail(&err);
        snprintf(sysname, sizeof sysname, "%s", sys.name);
        if (fell_back && !o.ov.predictor)
            fprintf(stderr, "promoe sim: note: system %s prefers predictor %.*s, which cannot "
                    "run here as named (not built, no hidden states in the trace, or it needs "
                    "training data: give --train TRAIN.h5); running with %s\n",
                    sys.name, (int)strcspn(sys.predictor, "|"), sys.predictor, predictor);
    }
    if (o.ov.predictor)
        snprintf(predictor, sizeof predictor, "%s", o.ov.predictor);
    cfg.batch = o.batch;
    const char *scope = cfg.offload.per_layer ? "per-layer" : "global";

    report rep = {.n = 0};
    char digest[17]; /* the report points at it until printed */
    report_name(&rep, "trace", o.trace);
    if (sysname[0])
        report_name(&rep, "system", sysname);
    report_name(&rep, "policy", cfg.offload.policy);
    report_name(&rep, "cache_scope", scope);
    if (o.hits_only) {
        if (cfg.offload.layer_offload || cfg.offload.preload)
            return cli_usage_error(cmd, "system %s keeps no expert cache to count hits in; "
                                   "drop --hits-only", sysname);
        char pred_name[64];
        sim_hits_config hc = {.offload = cfg.offload, .seed = cfg.seed};
        hc.offload.predictor_options = options_split_spec(predictor, pred_name, sizeof pred_name);
        hc.offload.predictor = pred_name;
        sim_hits_result r;
        if (sim_hits_replay(o.trace, &hc, &r, &err) < 0)
            return cli_fail(&err);
        report_hits(&rep, &r, digest);
    } else {
        int hw_rc = cli_load_hw(cmd, o.hw, o.sets, o.num_sets, &cfg.cost.hw);
        if (hw_rc != CLI_OK)
            return hw_rc;
        cost_profile prof;
        if (o.profile) {
            if (profile_load(o.profile, &prof, &err) < 0)
                return cli_fail(&err);
            cfg.cost.profile = &prof;
            if (prof.model[0] && strcmp(prof.model, cfg.cost.model.name) != 0)
                fprintf(stderr, "promoe sim: note: profile %s was measured for model %s, not %s\n",
                        o.profile, prof.model, cfg.cost.model.name);
        }
        char pred_name[64];
        cfg.offload.predictor_options = options_split_spec(predictor, pred_name, sizeof pred_name);
        cfg.offload.predictor = pred_name;
        cfg.progress = show_progress;
        sim_result r;
        int failed = sim_run(o.trace, &cfg, &r, &err) < 0;
        cli_progress_done();
        if (o.profile)
            profile_free(&prof);
        if (failed)
            return cli_fail(&err);
        report_name(&rep, "model", cfg.cost.model.name);
        report_name(&rep, "hw", cfg.cost.hw.name);
        report_fig(&rep, "bits", "bits per weight", cfg.cost.model.bits_per_weight, 1);
        if (o.profile)
            report_name(&rep, "profile", o.profile);
        report_name(&rep, "predictor", predictor);
        report_timed(&rep, &cfg, &r, digest);
    }
    report_print(&rep, o.json, o.csv);
    return CLI_OK;
}
