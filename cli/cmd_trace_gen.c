/* cmd_trace_gen.c - `promoe trace gen`: synthetic traces. */
#include <stdlib.h>

#include "cli/cli.h"
#include "models/model.h"
#include "traces/trace.h"
#include "traces/trace_calibrate.h"
#include "traces/trace_gen.h"

static const char usage[] =
    "usage: promoe trace gen [OPTIONS] -o OUT.h5\n"
    "\n"
    "Writes a synthetic trace (format v1) from a synthetic router model: per token\n"
    "and layer a latent hidden vector correlated across tokens and layers, router\n"
    "logits W_l h, top-k experts and gate weights.  Same options and seed, same\n"
    "file, byte for byte.\n"
    "\n"
    "  -o, --output FILE      trace to write (required)\n"
    "  -m, --model NAME       model preset or .ini path (default mixtral-8x7b)\n"
    "      --requests N       number of requests (default 8; 0 = until --tokens)\n"
    "      --tokens N         stop after N tokens in all (default: no limit)\n"
    "      --prompt-mean N    mean prompt length, log-normal (default 128)\n"
    "      --output-mean N    mean output length, log-normal (default 256)\n"
    "      --length-sigma S   log-normal sigma of both lengths (default 0.8)\n"
    "      --max-len N        cap on prompt and output lengths (default 2048)\n"
    "      --rate R           request arrivals per second, Poisson (default 1)\n"
    "      --token-corr R     hidden-state correlation of consecutive tokens, [0,1):\n"
    "                         raises next-token expert reuse (default 0.7, or the\n"
    "                         model preset's trace_token_corr)\n"
    "      --layer-corr A     correlation of consecutive layers, [0,1): raises\n"
    "                         cross-layer predictability (default 0.95)\n"
    "      --layer-drift T    angle in radians, [0,pi/2], by which each layer turns\n"
    "                         the hidden state (a fixed rotation per layer, as a\n"
    "                         residual stream's layers write to it): applying\n"
    "                         layer l+s's router to layer l's state degrades with\n"
    "                         s, a trained predictor can undo it (default 0.45)\n"
    "      --router-corr C    similarity of consecutive layers' routers, [0,1]:\n"
    "                         with --layer-corr, makes layer l's experts predict\n"
    "                         layer l+1's (default 0.5, or the preset's\n"
    "                         trace_router_corr)\n"
    "      --skew S           spread of per-expert popularity biases (default 1, or\n"
    "                         the preset's trace_skew)\n"
    "      --router-scale S   spread of the input-dependent logits (default 2)\n"
    "      --hidden-dim D     width of stored hidden states (default 256; the\n"
    "                         model's real width still sets expert sizes)\n"
    "      --calibrate-to REAL.h5\n"
    "                         fit --skew, --token-corr and --router-corr so that the\n"
    "                         trace's popularity skew, next-token reuse and\n"
    "                         cross-layer predictability (as trace info measures\n"
    "                         them) are REAL.h5's, on probe traces shaped like it;\n"
    "                         prints each target and what was reached (-m defaults\n"
    "                         to REAL.h5's model)\n"
    "      --seed N           random seed of the model (router weights) and, without\n"
    "                         --token-seed, of the tokens (default 1)\n"
    "      --token-seed N     a separate seed for the tokens: traces of the same model\n"
    "                         (same --seed) with different requests, e.g. to train a\n"
    "                         predictor on one and replay another\n"
    "      --no-hidden        leave out hidden/input and model/router_weight\n"
    "      --no-logits        leave out routing/logits\n"
    "      --ids-only         only expert ids (no weights, logits, hidden states)\n"
    "      --dataset NAME     name stored in requests/dataset (default synthetic)\n"
    "      --compression C    gzip (default: smaller, readable by any HDF5) or none\n"
    "                         (larger, several times faster to read)\n"
    "  -h, --help             show this help\n";

enum {
    OPT_REQUESTS = 256, OPT_TOKENS, OPT_PROMPT, OPT_OUTPUT_MEAN, OPT_SIGMA, OPT_MAXLEN,
    OPT_RATE, OPT_TOKCORR, OPT_LAYERCORR, OPT_DRIFT, OPT_ROUTERCORR, OPT_SKEW, OPT_SCALE, OPT_HIDDEN, OPT_SEED,
    OPT_NO_HIDDEN, OPT_NO_LOGITS, OPT_IDS_ONLY, OPT_DATASET, OPT_COMPRESSION, OPT_TOKEN_SEED,
    OPT_CALIBRATE,
};
enum { GIVEN_TOKEN_CORR = 1, GIVEN_ROUTER_CORR = 2, GIVEN_SKEW = 4 };

static const struct option options[] = {
    {"output", required_argument, NULL, 'o'},
    {"model", required_argument, NULL, 'm'},
    {"requests", required_argument, NULL, OPT_REQUESTS},
    {"tokens", required_argument, NULL, OPT_TOKENS},
    {"prompt-mean", required_argument, NULL, OPT_PROMPT},
    {"output-mean", required_argument, NULL, OPT_OUTPUT_MEAN},
    {"length-sigma", required_argument, NULL, OPT_SIGMA},
    {"max-len", required_argument, NULL, OPT_MAXLEN},
    {"rate", required_argument, NULL, OPT_RATE},
    {"token-corr", required_argument, NULL, OPT_TOKCORR},
    {"layer-corr", required_argument, NULL, OPT_LAYERCORR},
    {"layer-drift", required_argument, NULL, OPT_DRIFT},
    {"router-corr", required_argument, NULL, OPT_ROUTERCORR},
    {"skew", required_argument, NULL, OPT_SKEW},
    {"router-scale", required_argument, NULL, OPT_SCALE},
    {"hidden-dim", required_argument, NULL, OPT_HIDDEN},
    {"seed", required_argument, NULL, OPT_SEED},
    {"token-seed", required_argument, NULL, OPT_TOKEN_SEED},
    {"no-hidden", no_argument, NULL, OPT_NO_HIDDEN},
    {"no-logits", no_argument, NULL, OPT_NO_LOGITS},
    {"ids-only", no_argument, NULL, OPT_IDS_ONLY},
    {"dataset", required_argument, NULL, OPT_DATASET},
    {"compression", required_argument, NULL, OPT_COMPRESSION},
    {"calibrate-to", required_argument, NULL, OPT_CALIBRATE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void show_progress(int64_t tokens, int64_t max_tokens)
{
    cli_progress("generating tokens", tokens, max_tokens);
}

static void show_calibration_progress(int64_t probes, int64_t total)
{
    cli_progress("calibrating: probe traces", probes, total);
}

/* Fits p to REAL's statistics and prints each target and what was reached. */
static int calibrate(const char *real, const model_desc *m, trace_gen_params *p)
{
    promoe_err err;
    trace_calibration cal;
    int rc = trace_calibrate(real, m, p, &cal, show_calibration_progress, &err);
    cli_progress_done();
    if (rc < 0)
        return cli_fail(&err);
    printf("calibrated to %s (%d probe traces of %lld tokens):\n", real, cal.probes,
           (long long)cal.probe_tokens);
    for (int s = 0; s < CAL_NUM; s++) {
        if (!cal.fitted[s]) {
            printf("  %-30s  not in %s: %s %g as given\n", trace_calibrate_stat_name(s), real,
                   trace_calibrate_knob_option(s), cal.knob[s]);
            continue;
        }
        printf("  %-30s  target %.4f  reached %.4f  %s %.4g%s\n", trace_calibrate_stat_name(s),
               cal.target[s], cal.reached[s], trace_calibrate_knob_option(s), cal.knob[s],
               cal.missed[s] ? "  (missed: the closest this generator gets)" : "");
    }
    return CLI_OK;
}

int cmd_trace_gen(int argc, char **argv)
{
    const char *cmd = "trace gen", *out = NULL, *model_name = NULL, *real = NULL;
    unsigned given = 0; /* GIVEN_* bits: knobs the command line set */
    trace_gen_params p;
    trace_gen_defaults(&p);
    p.progress = show_progress;
    long long v;
    double d;
    int c;
#define INT_OPT(field, lo, hi) \
    if (cli_parse_int(cmd, argv[optind - 1], optarg, lo, hi, &v) < 0) return CLI_USAGE; \
    field = v; break
#define DBL_OPT(field, lo, hi) \
    if (cli_parse_double(cmd, argv[optind - 1], optarg, lo, hi, &d) < 0) return CLI_USAGE; \
    field = d; break
    while ((c = cli_getopt(argc, argv, "o:m:h", options, cmd)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'm': model_name = optarg; break;
        case OPT_REQUESTS: INT_OPT(p.num_requests, 0, 100000000);
        case OPT_TOKENS: INT_OPT(p.max_tokens, 1, 1000000000000LL);
        case OPT_PROMPT: DBL_OPT(p.prompt_mean, 1, 1e6);
        case OPT_OUTPUT_MEAN: DBL_OPT(p.output_mean, 1, 1e6);
        case OPT_SIGMA: DBL_OPT(p.length_sigma, 0, 4);
        case OPT_MAXLEN: INT_OPT(p.max_len, 1, 1 << 24);
        case OPT_RATE: DBL_OPT(p.rate, 1e-9, 1e9);
        case OPT_TOKCORR:
            given |= GIVEN_TOKEN_CORR;
            DBL_OPT(p.token_corr, 0, 0.999999);
        case OPT_LAYERCORR: DBL_OPT(p.layer_corr, 0, 0.999999);
        case OPT_ROUTERCORR:
            given |= GIVEN_ROUTER_CORR;
            DBL_OPT(p.router_corr, 0, 1);
        case OPT_DRIFT: DBL_OPT(p.layer_drift, 0, 1.5707963);
        case OPT_SKEW:
            given |= GIVEN_SKEW;
            DBL_OPT(p.skew, 0, 100);
        case OPT_SCALE: DBL_OPT(p.router_scale, 1e-6, 100);
        case OPT_HIDDEN: INT_OPT(p.hidden_dim, 2, TRACE_MAX_HIDDEN);
        case OPT_SEED: INT_OPT(p.seed, 0, 0xffffffffLL);
        case OPT_TOKEN_SEED: INT_OPT(p.token_seed, 1, 0xffffffffLL);
        case OPT_NO_HIDDEN: p.content &= ~(unsigned)(TRACE_HIDDEN | TRACE_ROUTER_WEIGHT); break;
        case OPT_NO_LOGITS: p.content &= ~(unsigned)TRACE_LOGITS; break;
        case OPT_IDS_ONLY: p.content = 0; break;
        case OPT_DATASET: p.dataset = optarg; break;
        case OPT_CALIBRATE: real = optarg; break;
        case OPT_COMPRESSION:
            if (cli_parse_compression(cmd, optarg, &p.compression) < 0)
                return CLI_USAGE;
            break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
#undef INT_OPT
#undef DBL_OPT
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!out)
        return cli_usage_error(cmd, "no output file: give -o OUT.h5");
    if (p.num_requests == 0 && p.max_tokens == 0)
        return cli_usage_error(cmd, "--requests 0 needs --tokens N to end the trace");
    if (real && given) /* the knobs --calibrate-to fits */
        return cli_usage_error(cmd, "%s is what --calibrate-to fits: give one or the other",
                               given & GIVEN_TOKEN_CORR    ? "--token-corr"
                               : given & GIVEN_ROUTER_CORR ? "--router-corr"
                                                           : "--skew");
    trace_gen_params explicit = p;
    promoe_err err;
    model_desc m;
    trace_meta real_meta;
    if (real && !model_name) { /* the model that made the real trace */
        if (trace_read_meta(real, &real_meta, &err) < 0)
            return cli_fail(&err);
        model_name = real_meta.model;
    }
    int64_t tokens = 0;
    int loaded = model_load(model_name ? model_name : "mixtral-8x7b", &m, &err);
    if (loaded < 0)
        return cli_fail_preset(cmd, loaded, &err);
    /* the preset's knobs, then what the command line said over them */
    trace_gen_model_defaults(&p, &m);
    if (given & GIVEN_TOKEN_CORR)
        p.token_corr = explicit.token_corr;
    if (given & GIVEN_ROUTER_CORR)
        p.router_corr = explicit.router_corr;
    if (given & GIVEN_SKEW)
        p.skew = explicit.skew;
    if (real && calibrate(real, &m, &p) != CLI_OK)
        return CLI_FAILED;
    int rc = trace_gen_write(&p, &m, out, &tokens, &err);
    cli_progress_done();
    if (rc < 0)
        return cli_fail(&err);
    printf("wrote %s: %lld tokens of %s\n", out, (long long)tokens, m.name);
    return CLI_OK;
}
