/* main.c - the promoe command: git-style subcommands, one file each. */
#include "cli/cli.h"

#include <string.h>

static const cli_command commands[] = {
    {"trace", cmd_trace, "generate, import, export and inspect expert-activation traces"},
    {"sim", cmd_sim, "replay a trace against a cache on a cost model (or --hits-only)"},
    {"predict", cmd_predict, "evaluate expert predictors"},
    {"sweep", cmd_sweep, "run a grid of experiments here or on Slurm; summarize results"},
    {"demo", cmd_demo, "run the main job on built-in defaults"},
    {"version", cmd_version, "print the version and how this build was configured"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0)
        return cmd_version(1, argv + 1);
    return cli_dispatch("promoe", commands, argc, argv);
}
