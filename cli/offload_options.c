#include "cli/offload_options.h"

#include <string.h>

#include "cli/cli.h"
#include "common/options.h"
#include "predictors/predictor.h"

/* Each option of OFFLOAD_LONG_OPTIONS but --predictor: the key it sets and,
 * for a switch, the value it sets it to. */
static const struct {
    int c;
    const char *flag, *key, *fixed;
} option_keys[] = {
    {'p', "--policy", "policy", NULL},
    {OFFLOAD_OPT_SCOPE, "--cache-scope", "cache_scope", NULL},
    {OFFLOAD_OPT_STRIDE, "--stride", "stride", NULL},
    {OFFLOAD_OPT_LIMIT, "--prefetch-limit", "prefetch_limit", NULL},
    {OFFLOAD_OPT_MIN_PROB, "--prefetch-min-prob", "prefetch_min_prob", NULL},
    {OFFLOAD_OPT_CHUNKS, "--chunks", "chunks", NULL},
    {OFFLOAD_OPT_CHUNK_BYTES, "--chunk-bytes", "chunk_bytes", NULL},
    {OFFLOAD_OPT_PREEMPT, "--preempt", "preempt", "1"},
    {OFFLOAD_OPT_REORDER, "--reorder", "reorder", "1"},
    {OFFLOAD_OPT_BY_GAIN, "--prefetch-by-gain", "prefetch_by_gain", "1"},
    {OFFLOAD_OPT_STAGING, "--staging", "staging", NULL},
    {OFFLOAD_OPT_LOWBIT, "--lowbit-on-miss", "lowbit_on_miss", NULL},
};

int offload_option_key(const char *cmd, offload_overrides *ov, const char *flag,
                       const char *key, const char *value)
{
    if (ov->n == (int)(sizeof ov->set / sizeof ov->set[0]))
        return cli_usage_error(cmd, "too many offloading options"), -1;
    /* checked now, on the defaults, so the error names the option */
    system_desc scratch;
    system_defaults(&scratch);
    offload_config oc;
    offload_config_defaults(&oc);
    model_desc no_model = {0};
    promoe_err err;
    if (system_set(&scratch, key, value, &err) < 0 ||
        system_settings(&scratch, &oc, &no_model, &err) < 0)
        return cli_usage_error(cmd, "%s: %s", flag, err.msg), -1;
    ov->set[ov->n].flag = flag;
    ov->set[ov->n].key = key;
    ov->set[ov->n++].value = value;
    return 1;
}

int offload_option(const char *cmd, int c, const char *arg, offload_overrides *ov)
{
    if (c == OFFLOAD_OPT_PREDICTOR) {
        ov->predictor = arg;
        return 1;
    }
    if (c == OFFLOAD_OPT_CPU) {
        if (arg && strcmp(arg, "sooner") != 0 && strcmp(arg, "always") != 0)
            return cli_usage_error(cmd, "--cpu-compute=%s: expected sooner or always", arg), -1;
        return offload_option_key(cmd, ov, "--cpu-compute", "cpu_compute",
                                  arg && strcmp(arg, "always") == 0 ? "2" : "1");
    }
    for (size_t i = 0; i < sizeof option_keys / sizeof option_keys[0]; i++)
        if (option_keys[i].c == c)
            return offload_option_key(cmd, ov, option_keys[i].flag, option_keys[i].key,
                                      option_keys[i].fixed ? option_keys[i].fixed : arg);
    return 0;
}

int offload_options_given(const offload_overrides *ov, const char *key)
{
    for (int i = 0; i < ov->n; i++)
        if (strcmp(ov->set[i].key, key) == 0)
            return 1;
    return 0;
}

int offload_options_check(const char *cmd, const offload_overrides *ov)
{
    if (offload_options_given(ov, "chunks") && offload_options_given(ov, "chunk_bytes"))
        return cli_usage_error(cmd, "choose one of --chunks and --chunk-bytes");
    if (ov->predictor) {
        char name[64];
        options_split_spec(ov->predictor, name, sizeof name);
        if (!predictor_find(name))
            return cli_usage_error(cmd, "unknown predictor '%s' (predictors: %s)", name,
                                   predictor_names());
    }
    return CLI_OK;
}

int offload_options_system(const char *cmd, const char *name, const offload_overrides *ov,
                           system_desc *s)
{
    promoe_err err;
    system_defaults(s);
    int rc = name ? system_load(name, s, &err) : 0;
    if (rc < 0)
        return cli_fail_preset(cmd, rc, &err);
    for (int i = 0; i < ov->n; i++)
        if (system_set(s, ov->set[i].key, ov->set[i].value, &err) < 0)
            return cli_usage_error(cmd, "%s: %s", ov->set[i].flag, err.msg);
    return CLI_OK;
}

int offload_options_need_train(const char *cmd, const system_desc *s, const char *train)
{
    if (s->policy_trace && !train)
        return cli_usage_error(cmd, "system %s: its %s policy learns its fixed experts from a "
                               "trace: give --train T.h5", s->name, s->policy);
    return CLI_OK;
}
