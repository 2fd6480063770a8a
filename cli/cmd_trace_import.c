/* cmd_trace_import.c - `promoe trace import`. */
#include <string.h>

#include "cli/cli.h"
#include "common/preset.h"
#include "models/model.h"
#include "traces/trace_import.h"

static const char usage[] =
    "usage: promoe trace import --format FORMAT --experts E IN -o OUT.h5 [OPTIONS]\n"
    "\n"
    "Converts a trace recorded by another tool to promoe's format v1 (HDF5).\n"
    "Without iteration numbers in the input, a request's prefill tokens form one\n"
    "iteration and each decode token its own.  A (token, layer) with no record is\n"
    "stored as missing (-1) and counted.  OUT appears only if all of IN was read.\n"
    "\n"
    "formats:\n"
    "  warp-jsonl  one decode step a line: {\"tok\": n, \"layers\": [[ids], ...]}\n"
    "              (the sqliteai/warp recorder; one request, decode only)\n"
    "  jsonl       one object per (token, layer): {\"request\", \"token\",\n"
    "              \"phase\": \"prefill\"|\"decode\", \"layer\", \"experts\": [...],\n"
    "              \"weights\": [...] (optional), \"iteration\" (optional)}\n"
    "  csv         header request,token,phase,layer,rank,expert,weight[,iteration]\n"
    "              and one row per (token, layer, rank)\n"
    "  hf-router-logits\n"
    "              the router logits transformers returns (output_router_logits=\n"
    "              True), one tensor a layer (tokens x experts), in a safetensors\n"
    "              file or a numpy .npz; the layer is the last number in a\n"
    "              tensor's name; requests one after another, each its prompt\n"
    "              then its output, split by --split or by prompt_lens and\n"
    "              output_lens in the file; experts and weights follow from the\n"
    "              logits by the model's rule (softmax, top-k, renormalised if\n"
    "              norm_topk_prob)\n"
    "\n"
    "  -f, --format FORMAT    input format (required)\n"
    "  -o, --output FILE      trace to write (required)\n"
    "  -m, --model NAME       the model that made the data, a preset or .ini: its\n"
    "                         experts, layers and top-k are checked against the\n"
    "                         data's and give the defaults below (a name that is no\n"
    "                         preset is recorded as given, unchecked; default unknown)\n"
    "  -E, --experts E        experts per layer (required without a preset -m: ids\n"
    "                         do not reveal it; the note says the largest id seen)\n"
    "  -k, --top-k K          experts per token and layer (default: longest list)\n"
    "  -L, --layers L         MoE layers (default: highest layer seen + 1)\n"
    "      --dataset NAME     name stored in requests/dataset (default imported)\n"
    "      --compression C    gzip (default) or none (faster to read)\n"
    "      --split P:O[,P:O...]\n"
    "                         hf-router-logits: each request's prompt and output\n"
    "                         lengths (new tokens), in the order of the rows\n"
    "      --norm-topk-prob 0|1\n"
    "                         hf-router-logits: whether the top-k weights are\n"
    "                         renormalised (default: the -m preset's rule)\n"
    "      --field NAME=KEY   jsonl: read field NAME from JSON key KEY, e.g.\n"
    "                         --field token=token_idx --field weights=gating_probs\n"
    "                         (fields: request token phase layer experts weights\n"
    "                         iteration); may be repeated\n"
    "  -h, --help             show this help\n";

enum { OPT_DATASET = 256, OPT_FIELD, OPT_COMPRESSION, OPT_SPLIT, OPT_NORM_TOPK };

static const struct option options[] = {
    {"format", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, 'o'},
    {"experts", required_argument, NULL, 'E'},
    {"top-k", required_argument, NULL, 'k'},
    {"layers", required_argument, NULL, 'L'},
    {"model", required_argument, NULL, 'm'},
    {"dataset", required_argument, NULL, OPT_DATASET},
    {"field", required_argument, NULL, OPT_FIELD},
    {"compression", required_argument, NULL, OPT_COMPRESSION},
    {"split", required_argument, NULL, OPT_SPLIT},
    {"norm-topk-prob", required_argument, NULL, OPT_NORM_TOPK},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* An explicit OPTION VALUE must be what the -m preset says (WHAT). */
static int agree(const char *cmd, const char *option, int value, const model_desc *m, int want,
                 const char *what)
{
    if (value && value != want) {
        cli_usage_error(cmd, "%s %d disagrees with model %s (%s %d): drop %s or fix -m", option,
                        value, m->name, what, want, option);
        return -1;
    }
    return 0;
}

int cmd_trace_import(int argc, char **argv)
{
    const char *cmd = "trace import", *format = NULL, *out = NULL;
    trace_import_opts o;
    trace_import_defaults(&o);
    promoe_err err;
    int c;
    while ((c = cli_getopt(argc, argv, "f:o:E:k:L:m:h", options, cmd)) != -1) {
        switch (c) {
        case 'f': format = optarg; break;
        case 'o': out = optarg; break;
        case 'E':
            if (cli_parse_int_to(cmd, "--experts", optarg, 1, TRACE_MAX_EXPERTS, &o.num_experts) < 0)
                return CLI_USAGE;
            break;
        case 'k':
            if (cli_parse_int_to(cmd, "--top-k", optarg, 1, TRACE_MAX_TOP_K, &o.top_k) < 0)
                return CLI_USAGE;
            break;
        case 'L':
            if (cli_parse_int_to(cmd, "--layers", optarg, 1, TRACE_MAX_LAYERS, &o.num_layers) < 0)
                return CLI_USAGE;
            break;
        case 'm': o.model = optarg; break;
        case OPT_DATASET: o.dataset = optarg; break;
        case OPT_FIELD:
            if (trace_import_map_field(&o, optarg, &err) < 0)
                return cli_usage_error(cmd, "%s", err.msg);
            break;
        case OPT_COMPRESSION:
            if (cli_parse_compression(cmd, optarg, &o.compression) < 0)
                return CLI_USAGE;
            break;
        case OPT_SPLIT: o.split = optarg; break;
        case OPT_NORM_TOPK:
            if (cli_parse_int_to(cmd, "--norm-topk-prob", optarg, 0, 1, &o.norm_topk_prob) < 0)
                return CLI_USAGE;
            break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (!format)
        return cli_usage_error(cmd, "no input format: give --format (%s)", trace_importer_names());
    if (!trace_importer_find(format))
        return cli_usage_error(cmd, "unknown format '%s' (formats: %s)", format,
                               trace_importer_names());
    if (optind != argc - 1)
        return cli_usage_error(cmd, optind < argc ? "give exactly one input file"
                                                  : "no input file given");
    if (!out)
        return cli_usage_error(cmd, "no output file: give -o OUT.h5");
    model_desc model;
    int checked = 0;
    if (o.model) {
        int rc = model_load(o.model, &model, &err);
        if (rc < 0 && rc != PRESET_UNKNOWN)
            return cli_fail(&err);
        if (rc == 0) {
            checked = 1;
            if (agree(cmd, "--experts", o.num_experts, &model, model.num_experts, "experts") < 0 ||
                agree(cmd, "--layers", o.num_layers, &model, model.num_layers, "layers") < 0 ||
                agree(cmd, "--top-k", o.top_k, &model, model.top_k, "top-k") < 0)
                return CLI_USAGE;
            if (o.norm_topk_prob >= 0 && o.norm_topk_prob != model.norm_topk_prob)
                return cli_usage_error(cmd, "--norm-topk-prob %d disagrees with model %s "
                                       "(norm_topk_prob %d): drop it or fix -m",
                                       o.norm_topk_prob, model.name, model.norm_topk_prob);
            o.norm_topk_prob = model.norm_topk_prob;
            o.model = model.name;
            o.num_experts = model.num_experts;
            o.model_layers = model.num_layers;
            o.model_top_k = model.top_k;
        }
    }
    if (o.num_experts < 1)
        return cli_usage_error(cmd, "--experts E is required: expert ids do not reveal how "
                               "many experts a layer has (or name the model's preset with -m)");
    trace_build_report rep;
    if (trace_import_file(format, &o, argv[optind], out, &rep, &err) < 0)
        return cli_fail(&err);
    printf("imported %lld records into %s: %lld tokens, %lld iterations, %lld requests\n",
           (long long)rep.records, out, (long long)rep.tokens, (long long)rep.iterations,
           (long long)rep.requests);
    /* notes, like progress, go to stderr: stdout carries results only */
    if (!checked)
        fprintf(stderr, "promoe %s: note: %s: the data was not checked against a model: it "
                "holds %d layers, top-k up to %d, expert ids up to %d of the %d "
                "given by --experts\n", cmd, o.model ? "no such preset" : "no -m",
                rep.seen.num_layers, rep.seen.top_k, rep.seen.max_expert, o.num_experts);
    if (rep.missing)
        fprintf(stderr, "promoe %s: note: %lld (token, layer) pairs had no record and are "
                "stored as missing (-1)\n", cmd, (long long)rep.missing);
    return CLI_OK;
}
