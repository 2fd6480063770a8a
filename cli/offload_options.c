#include "cli/offload_options.h"

#include <string.h>

#include "cli/cli.h"
#include "common/options.h"
#include "policies/policy.h"
#include "predictors/predictor.h"

int offload_option(const char *cmd, int c, const char *arg, system_overrides *ov)
{
    switch (c) {
    case 'p': ov->policy = arg; return 1;
    case OFFLOAD_OPT_SCOPE: ov->scope = arg; return 1;
    case OFFLOAD_OPT_PREDICTOR: ov->predictor = arg; return 1;
    case OFFLOAD_OPT_STRIDE:
        return cli_parse_int_to(cmd, "--stride", arg, 1, 1024, &ov->stride) < 0 ? -1 : 1;
    case OFFLOAD_OPT_LIMIT:
        return cli_parse_int_to(cmd, "--prefetch-limit", arg, 1, 32767, &ov->prefetch_limit) < 0
                   ? -1 : 1;
    case OFFLOAD_OPT_CHUNKS:
        return cli_parse_int_to(cmd, "--chunks", arg, 1, 1024, &ov->chunks) < 0 ? -1 : 1;
    case OFFLOAD_OPT_PREEMPT: ov->preempt = 1; return 1;
    case OFFLOAD_OPT_REORDER: ov->reorder = 1; return 1;
    default: return 0;
    }
}

int offload_options_check(const char *cmd, const system_overrides *ov)
{
    if (ov->scope && strcmp(ov->scope, "global") != 0 && strcmp(ov->scope, "per-layer") != 0)
        return cli_usage_error(cmd, "--cache-scope: expected global or per-layer, got '%s'",
                               ov->scope);
    char name[64];
    if (ov->policy) {
        options_split_spec(ov->policy, name, sizeof name);
        if (!policy_find(name))
            return cli_usage_error(cmd, "unknown policy '%s' (policies: %s)", name,
                                   policy_names());
    }
    if (ov->predictor) {
        options_split_spec(ov->predictor, name, sizeof name);
        if (!predictor_find(name))
            return cli_usage_error(cmd, "unknown predictor '%s' (predictors: %s)", name,
                                   predictor_names());
    }
    return CLI_OK;
}

int offload_options_need_train(const char *cmd, const system_desc *s, const char *train)
{
    if (s->policy_trace && !train)
        return cli_usage_error(cmd, "system %s: its %s policy learns its fixed experts from a "
                               "trace: give --train T.h5", s->name, s->policy);
    return CLI_OK;
}
