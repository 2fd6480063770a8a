#include "models/model.h"

#include <stddef.h>
#include <stdio.h>

#include "common/preset.h"

#define INT_KEY(k, lo, hi, req) {#k, PRESET_INT, offsetof(model_desc, k), 0, lo, hi, req}

static const preset_key model_keys[] = {
    {"name", PRESET_STRING, offsetof(model_desc, name), MODEL_NAME_MAX, 0, 0, 1},
    INT_KEY(num_layers, 1, 1024, 1),
    INT_KEY(num_experts, 1, 32767, 1),
    INT_KEY(top_k, 1, 256, 1),
    INT_KEY(hidden_size, 1, 1 << 20, 1),
    INT_KEY(expert_ffn_dim, 1, 1 << 20, 1),
    INT_KEY(num_shared_experts, 0, 64, 0),
    INT_KEY(shared_ffn_dim, 0, 1 << 20, 0),
    INT_KEY(num_heads, 1, 4096, 1),
    INT_KEY(num_kv_heads, 1, 4096, 1),
    INT_KEY(head_dim, 1, 4096, 1),
    INT_KEY(vocab_size, 1, 1 << 24, 1),
    INT_KEY(bits_per_weight, 2, 32, 1),
    INT_KEY(norm_topk_prob, 0, 1, 1),
    {"rope_theta", PRESET_DOUBLE, offsetof(model_desc, rope_theta), 0, 1, 1e12, 0},
    {"rms_norm_eps", PRESET_DOUBLE, offsetof(model_desc, rms_norm_eps), 0, 1e-12, 1, 0},
    {"trace_token_corr", PRESET_DOUBLE, offsetof(model_desc, trace_token_corr), 0, 1e-9, 0.999999, 0},
    {"trace_router_corr", PRESET_DOUBLE, offsetof(model_desc, trace_router_corr), 0, 1e-9, 1, 0},
    {"trace_skew", PRESET_DOUBLE, offsetof(model_desc, trace_skew), 0, 1e-9, 100, 0},
};

static const preset_kind model_kind = {"models", "model", model_keys,
                                       sizeof model_keys / sizeof model_keys[0]};

int model_load(const char *name_or_path, model_desc *m, promoe_err *err)
{
    *m = (model_desc){0};
    int rc = preset_load(&model_kind, name_or_path, m, err);
    if (rc < 0)
        return rc;
    if (m->rope_theta == 0)
        m->rope_theta = 10000;
    if (m->rms_norm_eps == 0)
        m->rms_norm_eps = 1e-6;
    if (m->top_k > m->num_experts)
        return promoe_err_set(err, "model %s: top_k %d exceeds num_experts %d", m->name, m->top_k,
                              m->num_experts);
    if (m->num_shared_experts > 0 && m->shared_ffn_dim < 1)
        return promoe_err_set(err, "model %s: shared experts need shared_ffn_dim", m->name);
    return 0;
}

size_t model_expert_bytes(const model_desc *m)
{
    size_t params = 3 * (size_t)m->hidden_size * (size_t)m->expert_ffn_dim;
    return params * (size_t)m->bits_per_weight / 8;
}

void model_list_presets(char *buf, size_t len)
{
    preset_list(&model_kind, buf, len);
}
