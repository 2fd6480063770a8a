/* cmd_trace_import.c - `promoe trace import`. */
#include <string.h>

#include "cli/cli.h"
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
    "\n"
    "  -f, --format FORMAT    input format (required)\n"
    "  -o, --output FILE      trace to write (required)\n"
    "  -E, --experts E        experts per layer (required: ids do not reveal it)\n"
    "  -k, --top-k K          experts per token and layer (default: longest list)\n"
    "  -L, --layers L         MoE layers (default: highest layer seen + 1)\n"
    "  -m, --model NAME       model name to record (default unknown)\n"
    "      --dataset NAME     name stored in requests/dataset (default imported)\n"
    "      --compression C    gzip (default) or none (faster to read)\n"
    "      --field NAME=KEY   jsonl: read field NAME from JSON key KEY, e.g.\n"
    "                         --field token=token_idx --field weights=gating_probs\n"
    "                         (fields: request token phase layer experts weights\n"
    "                         iteration); may be repeated\n"
    "  -h, --help             show this help\n";

enum { OPT_DATASET = 256, OPT_FIELD, OPT_COMPRESSION };

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
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

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
    if (o.num_experts < 1)
        return cli_usage_error(cmd, "--experts E is required: expert ids do not reveal how "
                               "many experts a layer has");
    trace_build_report rep;
    if (trace_import_file(format, &o, argv[optind], out, &rep, &err) < 0)
        return cli_fail(&err);
    printf("imported %lld records into %s: %lld tokens, %lld iterations, %lld requests\n",
           (long long)rep.records, out, (long long)rep.tokens, (long long)rep.iterations,
           (long long)rep.requests);
    if (rep.missing) /* notes, like progress, go to stderr: stdout carries results only */
        fprintf(stderr, "promoe %s: note: %lld (token, layer) pairs had no record and are "
                "stored as missing (-1)\n", cmd, (long long)rep.missing);
    return CLI_OK;
}
