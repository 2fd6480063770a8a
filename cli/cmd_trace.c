/* cmd_trace.c - `promoe trace`: the trace subcommands. */
#include "cli/cli.h"

static const cli_command trace_commands[] = {
    {"gen", cmd_trace_gen, "write a synthetic trace from a synthetic router model"},
    {"import", cmd_trace_import, "convert a trace recorded by another tool to format v1"},
    {"export", cmd_trace_export, "write a trace out as JSON lines or CSV"},
    {"info", cmd_trace_info, "summarise a trace: shape, skew, reuse, predictability"},
    {"popularity", cmd_trace_popularity, "how concentrated expert accesses are, per layer"},
    {NULL, NULL, NULL},
};

int cmd_trace(int argc, char **argv)
{
    return cli_dispatch("promoe trace", trace_commands, argc, argv);
}
