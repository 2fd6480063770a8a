/* main.c - the promoe command: git-style subcommands, one file each. */
#include "cli/cli.h"

#include <signal.h>
#include <string.h>

#include "common/atomic_file.h"

static const cli_command commands[] = {
    {"trace", cmd_trace, "generate, import, export and inspect expert-activation traces"},
    {"sim", cmd_sim, "replay a trace against a cache on a cost model (or --hits-only)"},
    {"exec", cmd_exec, "run a MoE decoder for real (CPU backend so far); record traces"},
    {"systems", cmd_systems, "list the systems --system names: what each models and needs"},
    {"profile", cmd_profile, "measure this machine's operation times for 'sim --profile'"},
    {"predict", cmd_predict, "evaluate expert predictors"},
    {"sweep", cmd_sweep, "run a grid of experiments here or on Slurm; summarize results"},
    {"demo", cmd_demo, "run the main job on built-in defaults"},
    {"version", cmd_version, "print the version and how this build was configured"},
    {NULL, NULL, NULL},
};

/* Interrupted or terminated: no half-written temporary file stays behind;
 * then the signal ends the process as it would have (SA_RESETHAND). */
static void on_terminating_signal(int sig)
{
    atomic_file_remove_pending();
    raise(sig);
}

static void remove_temporaries_on_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {.sa_handler = on_terminating_signal, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        /* a signal the caller ignores (nohup's SIGHUP) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
}

int main(int argc, char **argv)
{
    remove_temporaries_on_signals();
    if (argc == 2 && strcmp(argv[1], "--version") == 0)
        return cmd_version(1, argv + 1);
    return cli_dispatch("promoe", commands, argc, argv);
}
