/* cmd_predict.c - `promoe predict`: evaluating expert predictors. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/blas.h"
#include "common/csv.h"
#include "common/options.h"
#include "predictors/eval.h"
#include "predictors/predictor.h"
#include "traces/trace.h"

static const char eval_usage[] =
    "usage: promoe predict eval --trace T.h5 --predictor P [--predictor P2 ...] [OPTIONS]\n"
    "\n"
    "Scores predictors on a trace, side by side.  The trace is read in order; the\n"
    "training share of requests (--split; for a single-request trace, that share of\n"
    "its tokens) is only observed.  On the rest, after a predictor observes layer l\n"
    "of a decode token that follows an earlier token of its request, it predicts\n"
    "layer l+s; its N best-scored experts are compared\n"
    "with the experts the token chose there.  Stride s is thus scored on target\n"
    "layers s..L-1.  Prefill and batched iterations are observed, not scored, and\n"
    "nor is a target layer whose record is missing (stored as -1), as trace info's\n"
    "reuse leaves such records out.\n"
    "  precision@N = correct / predicted        recall@N = correct / chosen\n"
    "Count-based predictors go on learning from what they observe, as a running\n"
    "system would.\n"
    "\n"
    "Timing, on the cost model of the trace's model (or --model) and --hw: a\n"
    "prediction is made once layer l's router has run and the predictor's CPU time\n"
    "has passed (--predictor-us, plus its FLOPs and weights on the CPU), leaving\n"
    "  lead = s x layer time - prediction time\n"
    "(layer time: attention, router and the top-k experts of one token, resident)\n"
    "before layer l+s chooses.  Predicted experts are copied one at a time in score\n"
    "order from then on, none cached, so the j-th arrives after j copy times:\n"
    "  fetch = correct predictions arriving within the lead / correct\n"
    "  GoodPred = precision x fetch (the paper's Accuracy x FetchRate: bytes of\n"
    "             correctly predicted experts in time per byte prefetched)\n"
    "  ahead = chosen experts correctly predicted at least one layer time before\n"
    "          their router runs / chosen\n"
    "\n"
    "  -t, --trace FILE       trace to evaluate on (required)\n"
    "  -p, --predictor P[:k=v,...]\n"
    "                         predictor (may be repeated): prev-token, popularity,\n"
    "                         cross-layer[:max_stride=4], eam, gate-reuse, learned:file=\n"
    "                         PRED.h5 (from 'promoe predict train') or learned:train=\n"
    "                         T.h5, none, oracle[:accuracy=p] (reads the trace: 1.0,\n"
    "                         or about p, by construction; a check of the harness)\n"
    "      --stride A[..B]    strides to score, below the trace's layer count (default\n"
    "                         1..4, cut to it)\n"
    "      --at N             experts predicted per layer (default: the top-k)\n"
    "      --split F          training share, by request (default 0.8; 0 = none)\n"
    "      --per-layer        also print every target layer (with --json or --csv:\n"
    "                         a row per predictor, stride and target layer, with\n"
    "                         layer, precision, recall, predicted and chosen, instead)\n"
    "  -m, --model NAME       model preset or .ini for the timing (default: the\n"
    "                         trace's model; without a preset no timing is shown)\n"
    "      --hw NAME          hardware preset or .ini (default rtx4090-pcie4)\n"
    "      --set KEY=VALUE    override a hardware number, e.g. --set pcie_gbps=12\n"
    "      --predictor-us X   fixed CPU time of one prediction, us (default 0; the\n"
    "                         paper measures ~200 for its MLP)\n"
    "  -j, --json             one JSON object per predictor and stride, one a line\n"
    "      --csv              a header line and one row per predictor and stride\n"
    "  -h, --help             show this help\n";

enum { OPT_STRIDE = 256, OPT_AT, OPT_SPLIT, OPT_PER_LAYER, OPT_CSV, OPT_HW, OPT_SET, OPT_PRED_US };

static const struct option eval_options[] = {
    {"trace", required_argument, NULL, 't'},
    {"predictor", required_argument, NULL, 'p'},
    {"stride", required_argument, NULL, OPT_STRIDE},
    {"at", required_argument, NULL, OPT_AT},
    {"split", required_argument, NULL, OPT_SPLIT},
    {"per-layer", no_argument, NULL, OPT_PER_LAYER},
    {"model", required_argument, NULL, 'm'},
    {"hw", required_argument, NULL, OPT_HW},
    {"set", required_argument, NULL, OPT_SET},
    {"predictor-us", required_argument, NULL, OPT_PRED_US},
    {"json", no_argument, NULL, 'j'},
    {"csv", no_argument, NULL, OPT_CSV},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* "A" or "A..B" */
static int parse_strides(const char *cmd, const char *s, int *lo, int *hi)
{
    const char *dots = strstr(s, "..");
    char first[32];
    snprintf(first, sizeof first, "%.*s", dots ? (int)(dots - s) : (int)strlen(s), s);
    if (cli_parse_int_to(cmd, "--stride", first, 1, 1024, lo) < 0 ||
        cli_parse_int_to(cmd, "--stride", dots ? dots + 2 : first, *lo, 1024, hi) < 0)
        return -1;
    return 0;
}

static void print_row(const char *spec, const predictor_eval_result *r, int si, int stride,
                      int json, int csv)
{
    double p = predictor_eval_precision(r, si), rc = predictor_eval_recall(r, si);
    double lead_ms = 1e3 * predictor_eval_lead_s(r, si), fetch = predictor_eval_fetch_rate(r, si);
    double good = predictor_eval_goodpred(r, si), ahead = predictor_eval_ahead(r, si);
    if (json) {
        json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:I, s:I, s:b, s:f, s:f}",
                              "predictor", spec, "stride", stride, "first_target_layer", stride,
                              "at", r->at, "precision", p, "recall", rc, "scored_tokens",
                              (json_int_t)r->scored_tokens, "train_tokens",
                              (json_int_t)r->train_tokens, "split_by_position", r->by_position,
                              "params", r->info.params, "flops_per_prediction", r->info.flops);
        if (r->timed) {
            json_object_set_new(o, "lead_ms", json_real(lead_ms));
            json_object_set_new(o, "fetch_rate", json_real(fetch));
            json_object_set_new(o, "goodpred", json_real(good));
            json_object_set_new(o, "ahead_one_layer", json_real(ahead));
        }
        cli_print_json(o, 6);
    } else if (csv) {
        csv_write_field(stdout, spec);
        printf(",%d,%d,%d,%.6f,%.6f,%lld,%lld,%d,%.0f,%.0f", stride, stride, r->at, p,
               rc, (long long)r->scored_tokens, (long long)r->train_tokens, r->by_position,
               r->info.params, r->info.flops);
        if (r->timed)
            printf(",%.6f,%.6f,%.6f,%.6f\n", lead_ms, fetch, good, ahead);
        else
            printf(",,,,\n");
    } else {
        printf("%-26s %6d   %2d-%-3d %12.4f %10.4f", spec, stride, stride, r->num_layers - 1, p,
               rc);
        if (r->timed)
            printf(" %9.3f %7.4f %9.4f %7.4f", lead_ms, fetch, good, ahead);
        printf("\n");
    }
}

/* One target layer's scores: an indented line under its stride's row, or
 * with --json/--csv a row of its own (the plot of the paper's Fig. 8). */
static void print_layer_row(const char *spec, const predictor_eval_result *r, int si, int stride,
                            int layer, int json, int csv)
{
    size_t cell = (size_t)si * r->num_layers + (size_t)layer;
    double predicted = r->predicted[cell], chosen = r->chosen[cell], correct = r->correct[cell];
    double p = predicted > 0 ? correct / predicted : 0, rc = chosen > 0 ? correct / chosen : 0;
    if (json) {
        json_t *o = json_pack("{s:s, s:i, s:i, s:f, s:f, s:f, s:f}", "predictor", spec, "stride",
                              stride, "layer", layer, "precision", p, "recall", rc, "predicted",
                              predicted, "chosen", chosen);
        cli_print_json(o, 6);
    } else if (csv) {
        csv_write_field(stdout, spec);
        printf(",%d,%d,%.6f,%.6f,%.0f,%.0f\n", stride, layer, p, rc, predicted, chosen);
    } else {
        printf("    layer %-3d %31.4f %10.4f\n", layer, p, rc);
    }
}

static int cmd_predict_eval(int argc, char **argv)
{
    const char *cmd = "predict eval", *trace = NULL, *specs[16];
    int n_specs = 0, json = 0, csv = 0, per_layer = 0, c;
    int strides_given = 0;
    predictor_eval_config cfg = {.stride_lo = 1, .stride_hi = 4, .split = 0.8, .seed = 1,
                                 .progress = cli_progress};
    const char *model = NULL, *hw = "rtx4090-pcie4", *sets[32];
    int n_sets = 0;
    double predictor_us = 0;
    while ((c = cli_getopt(argc, argv, "t:p:m:jh", eval_options, cmd)) != -1) {
        switch (c) {
        case 't': trace = optarg; break;
        case 'p':
            if (n_specs == 16)
                return cli_usage_error(cmd, "at most 16 predictors at once");
            specs[n_specs++] = optarg;
            break;
        case OPT_STRIDE:
            if (parse_strides(cmd, optarg, &cfg.stride_lo, &cfg.stride_hi) < 0)
                return CLI_USAGE;
            strides_given = 1;
            break;
        case OPT_AT:
            if (cli_parse_int_to(cmd, "--at", optarg, 1, 32767, &cfg.at) < 0)
                return CLI_USAGE;
            break;
        case OPT_SPLIT:
            if (cli_parse_double(cmd, "--split", optarg, 0, 0.99, &cfg.split) < 0)
                return CLI_USAGE;
            break;
        case OPT_PER_LAYER: per_layer = 1; break;
        case 'm': model = optarg; break;
        case OPT_HW: hw = optarg; break;
        case OPT_SET:
            if (n_sets == 32)
                return cli_usage_error(cmd, "at most 32 --set options");
            sets[n_sets++] = optarg;
            break;
        case OPT_PRED_US:
            if (cli_parse_double(cmd, "--predictor-us", optarg, 0, 1e9, &predictor_us) < 0)
                return CLI_USAGE;
            break;
        case 'j': json = 1; break;
        case OPT_CSV: csv = 1; break;
        case 'h': fputs(eval_usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!trace)
        return cli_usage_error(cmd, "no trace: give --trace T.h5");
    if (n_specs == 0)
        return cli_usage_error(cmd, "no predictor: give --predictor NAME (%s)", predictor_names());
    if (json && csv)
        return cli_usage_error(cmd, "choose one of --json and --csv");
    for (int i = 0; i < n_specs; i++) {
        char name[64];
        options_split_spec(specs[i], name, sizeof name);
        const predictor_ops *ops = predictor_find(name);
        if (!ops)
            return cli_usage_error(cmd, "unknown predictor '%s' (predictors: %s)", name,
                                   predictor_names());
    }
    /* the timing's cost model: the trace's model unless one is named */
    promoe_err err;
    cost_model cost = {0};
    trace_meta meta;
    if (trace_read_meta(trace, &meta, &err) < 0)
        return cli_fail(&err);
    if (!strides_given && cfg.stride_hi >= meta.num_layers) /* the default range, cut */
        cfg.stride_hi = meta.num_layers - 1 > cfg.stride_lo ? meta.num_layers - 1 : cfg.stride_lo;
    if (cfg.stride_hi >= meta.num_layers)
        return cli_usage_error(cmd, "--stride %d: %s has %d layers, so no layer is %d ahead of "
                               "another (strides 1 to %d)", cfg.stride_hi, trace,
                               meta.num_layers, cfg.stride_hi, meta.num_layers - 1);
    int loaded = model_load(model ? model : meta.model, &cost.model, &err);
    if (loaded < 0) {
        if (model)
            return cli_fail_preset(cmd, loaded, &err);
        if (!json && !csv)
            fprintf(stderr, "promoe predict eval: note: no preset for the trace's model %s: "
                    "no timing figures (give --model)\n", meta.model);
    } else {
        int hw_rc = cli_load_hw(cmd, hw, sets, n_sets, &cost.hw);
        if (hw_rc != CLI_OK)
            return hw_rc;
        cfg.cost = &cost;
        cfg.predictor_s = predictor_us * 1e-6;
    }
    /* every predictor scored before anything is printed: a failing one
     * leaves no partial table on stdout */
    predictor_eval_result results[sizeof specs / sizeof *specs];
    for (int i = 0; i < n_specs; i++) {
        int rc = predictor_eval(trace, specs[i], &cfg, &results[i], &err);
        cli_progress_done();
        if (rc < 0) {
            while (i > 0)
                predictor_eval_free(&results[--i]);
            return cli_fail(&err);
        }
    }
    if (csv && per_layer)
        printf("predictor,stride,layer,precision,recall,predicted,chosen\n");
    else if (csv)
        printf("predictor,stride,first_target_layer,at,precision,recall,scored_tokens,"
               "train_tokens,split_by_position,params,flops_per_prediction,lead_ms,fetch_rate,"
               "goodpred,ahead_one_layer\n");
    for (int i = 0; i < n_specs; i++) {
        predictor_eval_result r = results[i];
        if (!json && !csv && i == 0) {
            printf("trace %s: %lld tokens observed for training (%s), %lld scored\n\n", trace,
                   (long long)r.train_tokens,
                   r.by_position ? "one request: split by token position" : "split by request",
                   (long long)r.scored_tokens);
            if (cfg.cost)
                printf("timing: %s on %s, an expert copy %.3f ms\n\n", cost.model.name, cost.hw.name,
                       1e3 * cost_transfer_s(&cost, (double)model_expert_bytes(&cost.model)));
            printf("%-26s %6s %8s %12s %10s", "predictor", "stride", "layers", "precision@N",
                   "recall@N");
            if (cfg.cost)
                printf(" %9s %7s %9s %7s", "lead ms", "fetch", "GoodPred", "ahead");
            printf("\n");
        }
        if (!json && !csv && r.info.params > 0)
            printf("%-26s %.0f parameters, %.0f FLOPs a prediction\n", specs[i], r.info.params,
                   r.info.flops);
        for (int s = 0; s < r.num_strides; s++) {
            int stride = cfg.stride_lo + s;
            if (!per_layer || (!json && !csv))
                print_row(specs[i], &r, s, stride, json, csv);
            for (int l = stride; per_layer && l < r.num_layers; l++)
                print_layer_row(specs[i], &r, s, stride, l, json, csv);
        }
        predictor_eval_free(&r);
    }
    return CLI_OK;
}

static const char train_usage[] =
    "usage: promoe predict train --trace T.h5 --predictor NAME[:k=v,...] -o PRED.h5 [OPTIONS]\n"
    "\n"
    "Trains a predictor on the training share of a trace's requests (--split; for a\n"
    "single-request trace, that share of its tokens), saves it (HDF5, with its\n"
    "options and training figures as attributes) for NAME:file=PRED.h5 in\n"
    "'promoe predict eval' and 'promoe sim', and scores it on the held-out rest\n"
    "exactly as 'promoe predict eval' would.  Predictors that can be trained and\n"
    "saved: learned (ProMoE's MLP per layer and stride, on hidden states; options\n"
    "stride=S or max_stride=S (default 1..4), hidden=1024, epochs=3, batch=64,\n"
    "lr=0.001; the trace needs hidden/input).\n"
    "\n"
    "  -t, --trace FILE       trace to train on (required)\n"
    "  -p, --predictor P[:k=v,...]\n"
    "                         the predictor and its options (required)\n"
    "  -o, --output FILE      where to save it (required; written atomically)\n"
    "      --split F          training share, by request (default 0.8; 1 = all,\n"
    "                         nothing held out)\n"
    "      --seed N           seed of the initial weights (default 1)\n"
    "  -j, --json             print the figures as one JSON object\n"
    "  -h, --help             show this help\n";

enum { OPT_SEED = 300 };

static const struct option train_options[] = {
    {"trace", required_argument, NULL, 't'},
    {"predictor", required_argument, NULL, 'p'},
    {"output", required_argument, NULL, 'o'},
    {"split", required_argument, NULL, OPT_SPLIT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void print_training(const char *out, const predictor_info *in, double split, int json,
                           const predictor_eval_result *held)
{
    if (json) {
        json_t *o = json_pack("{s:s, s:i, s:i, s:I, s:i, s:f, s:f, s:f, s:f, s:f}", "output", out,
                              "stride_lo", in->stride_lo, "stride_hi", in->stride_hi,
                              "train_samples", (json_int_t)in->train_samples, "epochs",
                              in->epochs, "train_seconds", in->train_seconds, "train_loss",
                              in->train_loss, "params", in->params, "flops_per_prediction",
                              in->flops, "split", split);
        if (held) {
            json_t *a = json_array();
            for (int s = 0; s < held->num_strides; s++)
                json_array_append_new(a, json_pack("{s:i, s:f, s:f}", "stride",
                                                   in->stride_lo + s, "precision",
                                                   predictor_eval_precision(held, s), "recall",
                                                   predictor_eval_recall(held, s)));
            json_object_set_new(o, "held_out", a);
        }
        cli_print_json(o, 6);
        return;
    }
    printf("wrote %s: strides %d..%d, %.0f parameters, %.0f FLOPs a prediction\n", out,
           in->stride_lo, in->stride_hi, in->params, in->flops);
    printf("trained on %lld examples an epoch, %d epochs, %.1f s (%.0f examples/s); "
           "final L1 loss %.4f\n", (long long)in->train_samples, in->epochs, in->train_seconds,
           in->train_seconds > 0 ? (double)in->train_samples * in->epochs / in->train_seconds : 0,
           in->train_loss);
    if (!held)
        return;
    printf("held out: %lld tokens scored\n%6s %12s %10s\n", (long long)held->scored_tokens,
           "stride", "precision@K", "recall@K");
    for (int s = 0; s < held->num_strides; s++)
        printf("%6d %12.4f %10.4f\n", in->stride_lo + s, predictor_eval_precision(held, s),
               predictor_eval_recall(held, s));
}

static int cmd_predict_train(int argc, char **argv)
{
    const char *cmd = "predict train", *trace = NULL, *spec = NULL, *out = NULL;
    double split = 0.8;
    long long seed = 1;
    int json = 0, c;
    while ((c = cli_getopt(argc, argv, "t:p:o:jh", train_options, cmd)) != -1) {
        switch (c) {
        case 't': trace = optarg; break;
        case 'p': spec = optarg; break;
        case 'o': out = optarg; break;
        case OPT_SPLIT:
            if (cli_parse_double(cmd, "--split", optarg, 0.01, 1, &split) < 0)
                return CLI_USAGE;
            break;
        case OPT_SEED:
            if (cli_parse_int(cmd, "--seed", optarg, 0, 4294967295LL, &seed) < 0)
                return CLI_USAGE;
            break;
        case 'j': json = 1; break;
        case 'h': fputs(train_usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!trace || !spec || !out)
        return cli_usage_error(cmd, "give --trace T.h5, --predictor NAME and -o PRED.h5");
    char name[64], opts[2048];
    const char *given = options_split_spec(spec, name, sizeof name);
    const predictor_ops *ops = predictor_find(name);
    if (!ops)
        return cli_usage_error(cmd, "unknown predictor '%s' (predictors: %s)", name,
                               predictor_names());
    if (!ops->save)
        return cli_usage_error(cmd, "predictor %s has nothing to save (it needs no training, or "
                               "learns as it observes): use it directly", name);
    if (strstr(given, "train=") || strstr(given, "file="))
        return cli_usage_error(cmd, "give the training trace with --trace, not in the "
                               "predictor's options");
    if ((size_t)snprintf(opts, sizeof opts, "%s%strain=%s,split=%g", given, *given ? "," : "",
                         trace, split) >= sizeof opts)
        return cli_usage_error(cmd, "predictor options too long");
    promoe_err err = {{0}};
    trace_reader *r = trace_reader_open(trace, ops->needs_hidden ? TRACE_HIDDEN : 0, &err);
    if (!r)
        return cli_fail(&err);
    predictor_env base = {.seed = (unsigned long)seed, .progress = cli_progress};
    void *st = predictor_create_for_trace(ops, opts, r, trace, &base, &err);
    trace_reader_close(r);
    cli_progress_done();
    if (!st)
        return cli_fail(&err);
    predictor_info info = predictor_get_info(ops, st);
    int rc = ops->save(st, out, &err);
    ops->destroy(st);
    if (rc < 0)
        return cli_fail(&err);
    /* the held-out requests, scored by the saved file as eval would */
    predictor_eval_result held;
    int have_held = 0;
    if (split < 1 && info.stride_lo >= 1) {
        char file_spec[2048];
        snprintf(file_spec, sizeof file_spec, "%s:file=%s", name, out);
        predictor_eval_config cfg = {.stride_lo = info.stride_lo, .stride_hi = info.stride_hi,
                                     .split = split, .seed = (unsigned long)seed};
        if (predictor_eval(trace, file_spec, &cfg, &held, &err) < 0)
            return cli_fail(&err);
        have_held = 1;
    }
    print_training(out, &info, split, json, have_held ? &held : NULL);
    if (have_held)
        predictor_eval_free(&held);
    return CLI_OK;
}

static const cli_command predict_commands[] = {
    {"train", cmd_predict_train, "train a predictor on a trace and save it"},
    {"eval", cmd_predict_eval, "score predictors: precision and recall per stride"},
    {NULL, NULL, NULL},
};

int cmd_predict(int argc, char **argv)
{
    blas_one_thread();
    return cli_dispatch("promoe predict", predict_commands, argc, argv);
}
