/* cmd_trace_export.c - `promoe trace export`. */
#include "cli/cli.h"
#include "traces/trace_export.h"

static const char usage[] =
    "usage: promoe trace export --format jsonl|csv IN.h5 [-o OUT]\n"
    "\n"
    "Writes a trace's routing back out in the import formats (see 'promoe trace\n"
    "import --help'), with an iteration field so batched iterations survive:\n"
    "import -> export -> import gives the same tokens, experts and gate weights.\n"
    "Logits, hidden states, router weights and request arrival times are not part\n"
    "of the text formats and are left out.\n"
    "\n"
    "  -f, --format FORMAT    jsonl or csv (required)\n"
    "  -o, --output FILE      file to write atomically (default: standard output)\n"
    "  -h, --help             show this help\n";

static const struct option options[] = {
    {"format", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_trace_export(int argc, char **argv)
{
    const char *cmd = "trace export", *format = NULL, *out = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "f:o:h", options, cmd)) != -1) {
        switch (c) {
        case 'f': format = optarg; break;
        case 'o': out = optarg; break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (!format)
        return cli_usage_error(cmd, "no output format: give --format (%s)", trace_exporter_names());
    if (!trace_exporter_known(format))
        return cli_usage_error(cmd, "unknown format '%s' (formats: %s)", format,
                               trace_exporter_names());
    if (optind != argc - 1)
        return cli_usage_error(cmd, optind < argc ? "give exactly one trace"
                                                  : "no trace given");
    promoe_err err;
    if (trace_export_file(format, argv[optind], out, &err) < 0)
        return cli_fail(&err);
    return CLI_OK;
}
