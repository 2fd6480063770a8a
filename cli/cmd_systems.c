/* cmd_systems.c - `promoe systems`: the named systems, what each models,
 * what it needs to run, and whether the executor runs it. */
#include <jansson.h>
#include <string.h>

#include "cli/cli.h"
#include "exec/offload_clock.h"
#include "offload/system.h"
#include "policies/policy.h"
#include "predictors/predictor.h"

static const char usage[] =
    "usage: promoe systems [--json]\n"
    "\n"
    "Lists the systems that --system names (systems/NAME.ini, or a path to your\n"
    "own): what each models, what it needs beyond a trace and --cache (a training\n"
    "trace, hidden states; and what it falls back to without them), and whether\n"
    "'promoe exec' runs it or only 'promoe sim' does (and why).\n"
    "\n"
    "  -j, --json             one JSON object per system, one a line\n"
    "  -h, --help             show this help\n";

static const struct option options[] = {
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Why the executor cannot run s, or NULL: machinery it lacks, or a policy
 * or first-choice predictor that reads the future. */
static const char *exec_refuses(system_desc *s, char *why, size_t len)
{
    offload_config oc;
    offload_config_defaults(&oc);
    model_desc none = {0};
    promoe_err err;
    if (system_settings(s, &oc, &none, &err) < 0) {
        snprintf(why, len, "%s", err.msg);
        return why;
    }
    const char *lacks = offload_clock_lacks(&oc);
    const cache_policy_ops *pol = policy_find(s->policy);
    char first[64];
    system_predictor_choices(s, first, sizeof first, NULL, 0);
    const predictor_ops *pred = predictor_find(first);
    if (lacks)
        snprintf(why, len, "%s", lacks);
    else if (pol && pol->needs_future)
        snprintf(why, len, "a policy that reads the future (%s)", s->policy);
    else if (pred && pred->needs_future)
        snprintf(why, len, "a predictor that reads the future (%s)", first);
    else
        return NULL;
    return why;
}

void cli_list_systems(FILE *out, int exec_only)
{
    char names[4096], why[256];
    system_list_presets(names, sizeof names);
    fprintf(out, "\nsystems%s:\n", exec_only ? " the executor runs" : "");
    for (char *save = NULL, *name = strtok_r(names, ", ", &save); name;
         name = strtok_r(NULL, ", ", &save)) {
        system_desc s;
        promoe_err err;
        if (system_load(name, &s, &err) == 0 && !(exec_only && exec_refuses(&s, why, sizeof why)))
            fprintf(out, "  %-18s %s\n", s.name, s.description);
    }
}

int cmd_systems(int argc, char **argv)
{
    const char *cmd = "systems";
    int json = 0, c;
    while ((c = cli_getopt(argc, argv, "jh", options, cmd)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "takes no arguments");
    char names[4096];
    system_list_presets(names, sizeof names);
    if (!names[0]) {
        promoe_err err;
        promoe_err_set(&err, "no system presets found (set PROMOE_DATADIR to the folder "
                       "holding systems/)");
        return cli_fail(&err);
    }
    for (char *save = NULL, *name = strtok_r(names, ", ", &save); name;
         name = strtok_r(NULL, ", ", &save)) {
        system_desc s;
        promoe_err err;
        if (system_load(name, &s, &err) < 0)
            return cli_fail(&err);
        char needs[512], why[256];
        system_needs(&s, needs, sizeof needs);
        const char *refused = exec_refuses(&s, why, sizeof why);
        if (json) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s?}", "name", s.name, "description",
                                  s.description, "needs", needs, "exec", refused == NULL,
                                  "exec_refuses", refused);
            cli_print_json(o, 6);
            continue;
        }
        printf("%-19s %s\n", s.name, s.description);
        printf("    needs %s\n", needs);
        if (refused)
            printf("    runs in sim only; exec lacks %s\n", refused);
        else
            printf("    runs in sim and exec\n");
    }
    return CLI_OK;
}
