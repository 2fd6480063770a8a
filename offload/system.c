#include "offload/system.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "common/preset.h"
#include "common/units.h"
#include "policies/policy.h"
#include "predictors/predictor.h"

#define STR_KEY(k, req) {#k, PRESET_STRING, offsetof(system_desc, k), sizeof(((system_desc *)0)->k), 0, 0, req}
#define INT_KEY(k, lo, hi) {#k, PRESET_INT, offsetof(system_desc, k), 0, lo, hi, 0}

static const preset_key system_keys[] = {
    STR_KEY(name, 1),
    STR_KEY(description, 1),
    {"policy", PRESET_STRING, offsetof(system_desc, policy_options),
     sizeof(((system_desc *)0)->policy_options), 0, 0, 0},
    STR_KEY(predictor, 0),
    STR_KEY(cache_scope, 0),
    STR_KEY(chunk_bytes, 0),
    STR_KEY(lowbit_on_miss, 0),
    STR_KEY(layer_offload, 0),
    INT_KEY(all_gpu, 0, 1),
    INT_KEY(stride, 1, 1024),
    INT_KEY(chunks, 1, 1024),
    INT_KEY(staging, 0, 1 << 20),
    INT_KEY(preempt, 0, 1),
    INT_KEY(reorder, 0, 1),
    INT_KEY(load_on_reach, 0, 1),
    INT_KEY(prefetch_by_gain, 0, 1),
    INT_KEY(prefetch_limit, 0, 32767),
    INT_KEY(cpu_compute, 0, 2),
    INT_KEY(policy_trace, 0, 1),
    {"predictor_us", PRESET_DOUBLE, offsetof(system_desc, predictor_us), 0, 0, 1e9, 0},
    {"fault_us", PRESET_DOUBLE, offsetof(system_desc, fault_us), 0, 0, 1e9, 0},
    {"prefetch_min_prob", PRESET_DOUBLE, offsetof(system_desc, prefetch_min_prob), 0, 0, 1, 0},
};

static const preset_kind system_kind = {"systems", "system", system_keys,
                                        sizeof system_keys / sizeof system_keys[0]};

void system_defaults(system_desc *s)
{
    *s = (system_desc){.policy = "lru", .predictor = "none", .cache_scope = "global",
                       .stride = 1, .chunks = 1};
}

/* The policy's name apart from its options ("NAME:options" as read). */
static int split_policy(system_desc *s, promoe_err *err)
{
    char spec[sizeof s->policy_options];
    snprintf(spec, sizeof spec, "%s", s->policy_options);
    snprintf(s->policy_options, sizeof s->policy_options, "%s",
             options_split_spec(spec, s->policy, sizeof s->policy));
    if (!policy_find(s->policy))
        return promoe_err_set(err, "unknown policy '%s' (policies: %s)", s->policy,
                              policy_names());
    return 0;
}

/* What the key table cannot say: words from a fixed set. */
static int check_words(const system_desc *s, promoe_err *err)
{
    if (strcmp(s->cache_scope, "global") != 0 && strcmp(s->cache_scope, "per-layer") != 0)
        return promoe_err_set(err, "cache_scope must be global or per-layer, not '%s'",
                              s->cache_scope);
    if (s->layer_offload[0] && strcmp(s->layer_offload, "stream") != 0 &&
        strcmp(s->layer_offload, "cpu") != 0)
        return promoe_err_set(err, "layer_offload must be stream or cpu, not '%s'",
                              s->layer_offload);
    return 0;
}

int system_load(const char *name_or_path, system_desc *s, promoe_err *err)
{
    system_defaults(s);
    snprintf(s->policy_options, sizeof s->policy_options, "%s", s->policy);
    int rc = preset_load(&system_kind, name_or_path, s, err);
    if (rc < 0)
        return rc;
    if (split_policy(s, err) < 0 || check_words(s, err) < 0)
        return promoe_err_prefix(err, "system %s", s->name);
    return 0;
}

int system_set(system_desc *s, const char *key, const char *value, promoe_err *err)
{
    system_desc was = *s;
    int policy = strcmp(key, "policy") == 0;
    if (preset_assign(&system_kind, key, value, s, err) < 0 ||
        (policy && split_policy(s, err) < 0) || check_words(s, err) < 0) {
        *s = was;
        return -1;
    }
    if (policy)
        s->policy_trace = 0;
    if (strcmp(key, "chunks") == 0)
        s->chunk_bytes[0] = '\0';
    if (strcmp(key, "chunk_bytes") == 0)
        s->chunks = 1;
    return 0;
}

void system_list_presets(char *buf, size_t len)
{
    preset_list(&system_kind, buf, len);
}

void system_predictor_choices(const system_desc *s, char *first, size_t first_len, char *next,
                              size_t next_len)
{
    options_split_spec(s->predictor, first, first_len);
    first[strcspn(first, "|")] = '\0';
    if (!next)
        return;
    const char *rest = strchr(s->predictor, '|');
    if (rest)
        snprintf(next, next_len, "%.*s", (int)strcspn(rest + 1, "|:"), rest + 1);
    else
        snprintf(next, next_len, "none");
}

void system_needs(const system_desc *s, char *buf, size_t len)
{
    if (s->all_gpu) {
        snprintf(buf, len, "nothing more (every expert resident: --cache is ignored)");
        return;
    }
    char policy[160] = "", predictor[200] = "";
    if (s->policy_trace)
        snprintf(policy, sizeof policy, "--train T.h5 (%s learns its fixed experts from it)",
                 s->policy);
    char first[64], next[64];
    system_predictor_choices(s, first, sizeof first, next, sizeof next);
    const predictor_ops *ops = predictor_find(first);
    if (ops && ops->needs_training)
        snprintf(predictor, sizeof predictor, "--train T.h5 with hidden states (to train %s; else "
                 "%s)", first, next);
    else if (ops && ops->needs_hidden)
        snprintf(predictor, sizeof predictor, "hidden states in the trace (for %s; else %s)", first,
                 next);
    else if (ops && ops->needs_future)
        snprintf(predictor, sizeof predictor, "the trace's future (%s reads it)", first);
    snprintf(buf, len, "%s%s%s", policy, policy[0] && predictor[0] ? "; " : "",
             policy[0] || predictor[0] ? predictor : "nothing more");
}

int system_chunks_for_size(const model_desc *m, const char *size, int *chunks, promoe_err *err)
{
    double b;
    if (units_parse_bytes(size, &b, NULL, err) < 0)
        return promoe_err_prefix(err, "chunk size");
    if (!(b >= 1))
        return promoe_err_set(err, "chunk size %s must be at least 1 byte", size);
    double n = ceil((double)model_expert_bytes(m) / b);
    if (n > 1024)
        return promoe_err_set(err, "chunks of %s cut a %s expert into %.0f chunks (at most 1024)",
                              size, m->name, n);
    *chunks = n < 1 ? 1 : (int)n;
    return 0;
}

int system_parse_lowbit(const char *spec, double *weight, double *ratio, promoe_err *err)
{
    char *end;
    if (strncmp(spec, "weight<", 7) != 0)
        return promoe_err_set(err, "low-bit rule '%s': expected weight<W[,ratio=R] (e.g. "
                              "weight<0.2,ratio=0.25)", spec);
    *weight = strtod(spec + 7, &end);
    *ratio = 0.25;
    if (end == spec + 7 || !(*weight > 0 && *weight <= 1))
        return promoe_err_set(err, "low-bit rule '%s': the weight must be in (0, 1]", spec);
    if (*end == ',') {
        const char *r = end + 1;
        if (strncmp(r, "ratio=", 6) != 0)
            return promoe_err_set(err, "low-bit rule '%s': expected ratio=R after the comma", spec);
        *ratio = strtod(r + 6, &end);
        if (end == r + 6 || !(*ratio > 0 && *ratio <= 1))
            return promoe_err_set(err, "low-bit rule '%s': the ratio must be in (0, 1]", spec);
    }
    if (*end)
        return promoe_err_set(err, "low-bit rule '%s': unexpected '%s'", spec, end);
    return 0;
}

int system_apply(system_desc *s, offload_config *cfg, const model_desc *m, int has_hidden,
                 const char *train, char *predictor_buf, size_t len, int *fell_back,
                 promoe_err *err)
{
    char choices[sizeof s->predictor];
    snprintf(choices, sizeof choices, "%s", s->predictor);
    *fell_back = 0;
    predictor_buf[0] = '\0';
    if (train && strpbrk(train, ",=:"))
        return promoe_err_set(err, "training trace %s: a path with ',', '=' or ':' cannot be "
                              "passed as a predictor option (rename it)", train);
    for (char *save = NULL, *c = strtok_r(choices, "|", &save); c; c = strtok_r(NULL, "|", &save)) {
        char name[64];
        const char *opts = options_split_spec(c, name, sizeof name);
        const predictor_ops *ops = predictor_find(name);
        if (ops && (has_hidden || !ops->needs_hidden) && (!ops->needs_training || train)) {
            int n = ops->needs_training
                        ? snprintf(predictor_buf, len, "%s:%s%strain=%s,split=1", name, opts,
                                   opts[0] ? "," : "", train)
                        : snprintf(predictor_buf, len, "%s", c);
            if (n < 0 || (size_t)n >= len)
                return promoe_err_set(err, "system %s: predictor options too long", s->name);
            break;
        }
        *fell_back = 1;
    }
    if (!predictor_buf[0])
        return promoe_err_set(err, "system %s: none of its predictors (%s) is in this build "
                              "or can run on this trace", s->name, s->predictor);
    if (s->policy_trace) {
        if (!train)
            return promoe_err_set(err, "system %s: its %s policy is built from a training "
                                  "trace: give --train T.h5", s->name, s->policy);
        size_t n = strlen(s->policy_options);
        if (snprintf(s->policy_options + n, sizeof s->policy_options - n, "%strace=%s",
                     n ? "," : "", train) >= (int)(sizeof s->policy_options - n))
            return promoe_err_set(err, "system %s: policy options too long", s->name);
    }
    return system_settings(s, cfg, m, err);
}

int system_settings(const system_desc *s, offload_config *cfg, const model_desc *m,
                    promoe_err *err)
{
    cfg->policy = s->policy;
    cfg->policy_options = s->policy_options;
    cfg->per_layer = strcmp(s->cache_scope, "per-layer") == 0;
    cfg->preload = s->all_gpu;
    cfg->stride = s->stride;
    cfg->chunks = s->chunks;
    if (s->chunk_bytes[0] && m->num_layers > 0 &&
        system_chunks_for_size(m, s->chunk_bytes, &cfg->chunks, err) < 0)
        return s->name[0] ? promoe_err_prefix(err, "system %s", s->name) : -1;
    cfg->staging = s->staging;
    cfg->preempt = s->preempt;
    cfg->reorder = s->reorder;
    cfg->load_on_reach = s->load_on_reach;
    cfg->prefetch_by_gain = s->prefetch_by_gain;
    cfg->cpu_compute = s->cpu_compute;
    if (s->lowbit_on_miss[0] &&
        system_parse_lowbit(s->lowbit_on_miss, &cfg->lowbit_weight, &cfg->lowbit_ratio, err) < 0)
        return s->name[0] ? promoe_err_prefix(err, "system %s", s->name) : -1;
    cfg->prefetch_limit = s->prefetch_limit;
    cfg->predictor_us = s->predictor_us;
    cfg->fault_us = s->fault_us;
    cfg->layer_offload = !s->layer_offload[0]                        ? LAYER_OFFLOAD_NONE
                         : strcmp(s->layer_offload, "stream") == 0 ? LAYER_OFFLOAD_STREAM
                                                                    : LAYER_OFFLOAD_CPU;
    cfg->prefetch_min_prob = s->prefetch_min_prob;
    if (s->all_gpu)
        cfg->slots = (int64_t)m->num_layers * m->num_experts;
    return 0;
}
