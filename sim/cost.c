#include "sim/cost.h"

static double fmax2(double a, double b) { return a > b ? a : b; }

double cost_gpu_s(const cost_model *c, double flops, double bytes)
{
    return c->hw.gpu_op_us * 1e-6 +
           fmax2(flops / (c->hw.gpu_tflops * 1e12), bytes / (c->hw.gpu_mem_gbps * 1e9));
}

double cost_cpu_s(const cost_model *c, double flops, double bytes)
{
    return fmax2(flops / (c->hw.cpu_gflops * 1e9), bytes / (c->hw.cpu_mem_gbps * 1e9));
}

double cost_prediction_s(const cost_model *c, double fixed_s, double flops_per_token,
                         double weight_bytes, double tokens)
{
    return fixed_s +
           (flops_per_token > 0 ? cost_cpu_s(c, flops_per_token * tokens, weight_bytes) : 0);
}

/* The profile's table for op, or NULL. */
static const profile_table *measured(const cost_model *c, enum profile_op op)
{
    return c->profile && c->profile->op[op].n ? &c->profile->op[op] : NULL;
}

double cost_transfer_s(const cost_model *c, double bytes)
{
    const profile_table *t = measured(c, PROFILE_TRANSFER);
    if (t)
        return profile_eval(t, bytes);
    return c->hw.pcie_latency_us * 1e-6 + bytes / (c->hw.pcie_gbps * 1e9);
}

double cost_step_fixed_s(const cost_model *c, int tokens)
{
    const profile_table *t = measured(c, PROFILE_STEP_FIXED);
    return t ? profile_eval(t, tokens) : 0;
}

double cost_expert_flops(const cost_model *c, int tokens)
{
    return 6.0 * c->model.hidden_size * (double)c->model.expert_ffn_dim * tokens;
}

double cost_expert_bytes_moved(const cost_model *c, int tokens)
{
    double d = c->model.hidden_size, f = c->model.expert_ffn_dim;
    return (double)model_expert_bytes(&c->model) + tokens * (2 * d + 2 * f) * 2;
}

double cost_expert_s(const cost_model *c, int tokens)
{
    const profile_table *t = measured(c, PROFILE_EXPERT);
    if (t)
        return profile_eval(t, tokens);
    return c->hw.framework_expert_us * 1e-6 +
           cost_gpu_s(c, cost_expert_flops(c, tokens), cost_expert_bytes_moved(c, tokens));
}

double cost_expert_cpu_s(const cost_model *c, int tokens)
{
    return cost_cpu_s(c, cost_expert_flops(c, tokens), cost_expert_bytes_moved(c, tokens));
}

/* Attention's work for `tokens` new tokens after `context` cached ones. */
static void attention_work(const cost_model *c, int tokens, int context, double *flops,
                           double *bytes)
{
    const model_desc *m = &c->model;
    double d = m->hidden_size, w = m->head_dim, h = m->num_heads, g = m->num_kv_heads;
    double params = d * w * (2 * h + 2 * g);
    *flops = 2 * params * tokens + 4 * h * w * tokens * (context + (tokens + 1) / 2.0);
    *bytes = params * m->bits_per_weight / 8 + (double)(context + tokens) * 2 * g * w * 2 +
             tokens * 2 * d * 2;
}

double cost_attention_s(const cost_model *c, int tokens, int context)
{
    const profile_table *t = measured(c, PROFILE_ATTENTION);
    if (t) {
        const profile_table *start = measured(c, PROFILE_ATTENTION_START);
        double ref = c->profile->attention_context, at_ref = profile_eval(t, tokens);
        if (start && context < ref) {
            double at_0 = profile_eval(start, tokens);
            return at_0 + (at_ref - at_0) * context / ref;
        }
        double v = at_ref + c->profile->attention_per_context_s * tokens * (context - ref);
        return v > 0 ? v : 0;
    }
    double flops, bytes;
    attention_work(c, tokens, context, &flops, &bytes);
    return cost_gpu_s(c, flops, bytes);
}

double cost_attention_cpu_s(const cost_model *c, int tokens, int context)
{
    double flops, bytes;
    attention_work(c, tokens, context, &flops, &bytes);
    return cost_cpu_s(c, flops, bytes);
}

double cost_step_attention_s(const cost_model *c, size_t n, const int32_t *request,
                             const int32_t *position, int on_cpu)
{
    double s = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && request[j] == request[i])
            j++;
        s += on_cpu ? cost_attention_cpu_s(c, (int)(j - i), position[i])
                    : cost_attention_s(c, (int)(j - i), position[i]);
        i = j;
    }
    return s;
}

static void router_work(const cost_model *c, int tokens, double *flops, double *bytes)
{
    const model_desc *m = &c->model;
    double d = m->hidden_size, e = m->num_experts;
    *flops = 2 * d * e * tokens;
    *bytes = d * e * m->bits_per_weight / 8 + tokens * (d + e) * 2;
}

double cost_router_s(const cost_model *c, int tokens)
{
    const profile_table *t = measured(c, PROFILE_ROUTER);
    if (t)
        return profile_eval(t, tokens);
    double flops, bytes;
    router_work(c, tokens, &flops, &bytes);
    return c->hw.framework_layer_us * 1e-6 + cost_gpu_s(c, flops, bytes);
}

double cost_router_cpu_s(const cost_model *c, int tokens)
{
    double flops, bytes;
    router_work(c, tokens, &flops, &bytes);
    return cost_cpu_s(c, flops, bytes);
}

static void shared_work(const cost_model *c, int tokens, double *flops, double *bytes)
{
    const model_desc *m = &c->model;
    double d = m->hidden_size, f = (double)m->num_shared_experts * m->shared_ffn_dim;
    *flops = 6 * d * f * tokens;
    *bytes = 3 * d * f * m->bits_per_weight / 8 + tokens * (2 * d + 2 * f) * 2;
}

double cost_shared_experts_s(const cost_model *c, int tokens)
{
    if (c->model.num_shared_experts < 1)
        return 0.0;
    const profile_table *t = measured(c, PROFILE_SHARED);
    if (t)
        return profile_eval(t, tokens);
    double flops, bytes;
    shared_work(c, tokens, &flops, &bytes);
    return cost_gpu_s(c, flops, bytes);
}

double cost_shared_experts_cpu_s(const cost_model *c, int tokens)
{
    if (c->model.num_shared_experts < 1)
        return 0.0;
    double flops, bytes;
    shared_work(c, tokens, &flops, &bytes);
    return cost_cpu_s(c, flops, bytes);
}

double cost_layer_weight_bytes(const cost_model *c)
{
    const model_desc *m = &c->model;
    double d = m->hidden_size, w = m->head_dim, h = m->num_heads, g = m->num_kv_heads;
    double shared = (double)m->num_shared_experts * m->shared_ffn_dim;
    double params = d * w * (2 * h + 2 * g) + d * m->num_experts + 3 * d * shared;
    return params * m->bits_per_weight / 8 +
           (double)m->num_experts * (double)model_expert_bytes(m);
}

double cost_expert_load_s(const cost_model *c)
{
    return cost_transfer_s(c, (double)model_expert_bytes(&c->model));
}

double cost_compute_per_copy(const cost_model *c)
{
    double layer = cost_attention_s(c, 1, 256) + cost_router_s(c, 1) +
                   cost_shared_experts_s(c, 1) + c->model.top_k * cost_expert_s(c, 1);
    return layer / cost_expert_load_s(c);
}
