/* cost.h - how long each step takes: the analytic cost model.
 *
 * Every GPU step is a roofline: gpu_op_us + max(FLOPs / peak rate, bytes /
 * memory bandwidth); a copy is pcie_latency_us + bytes / pcie bandwidth; a
 * step on the CPU uses the host's rate and bandwidth with no fixed cost.
 * Weights take bits_per_weight; activations and the KV cache are fp16.
 *   expert (SwiGLU, d x f, three matrices):  FLOPs 6 d f per token;
 *     bytes 3 d f bits/8 + tokens (2d + 2f) 2
 *   attention (h heads, g KV heads of width w, c cached tokens):
 *     weights P = d w (2h + 2g); FLOPs 2 P t + 4 h w t (c + (t+1)/2);
 *     bytes P bits/8 + (c + t) 2 g w 2 + t 2d 2
 *   router: FLOPs 2 d E per token; bytes d E bits/8 + t (d + E) 2
 *   shared experts (always resident): as one SwiGLU of width
 *     num_shared_experts x shared_ffn_dim
 * With a measured profile (sim/profile.h), its tables replace these for
 * attention, router, experts, shared experts and copies, and add a step's
 * fixed cost where it was measured; CPU work stays analytic.  All times
 * are in seconds.
 */
#ifndef PROMOE_SIM_COST_H
#define PROMOE_SIM_COST_H

#include <stddef.h>
#include <stdint.h>

#include "hardware/hardware.h"
#include "models/model.h"
#include "sim/profile.h"

typedef struct cost_model {
    model_desc model;
    hw_desc hw;
    const cost_profile *profile; /* NULL: the analytic model throughout */
} cost_model;

double cost_gpu_s(const cost_model *c, double flops, double bytes);
double cost_cpu_s(const cost_model *c, double flops, double bytes);
double cost_transfer_s(const cost_model *c, double bytes);

double cost_expert_flops(const cost_model *c, int tokens);
double cost_expert_bytes_moved(const cost_model *c, int tokens);
/* One routed expert applied to `tokens` tokens, on the GPU (with the
 * framework's host time per expert, framework_expert_us) / on the CPU. */
double cost_expert_s(const cost_model *c, int tokens);
double cost_expert_cpu_s(const cost_model *c, int tokens);
/* Attention for `tokens` new tokens after `context` cached ones. */
double cost_attention_s(const cost_model *c, int tokens, int context);
/* The router, once a layer and step: with the framework's host time per
 * layer (framework_layer_us), which it stands for. */
double cost_router_s(const cost_model *c, int tokens);
/* Attention for a step of n tokens (request and position of each): one
 * call per run of consecutive tokens of a request, on the GPU or the CPU. */
double cost_step_attention_s(const cost_model *c, size_t n, const int32_t *request,
                             const int32_t *position, int on_cpu);
/* The always-active shared experts of one layer (0 if the model has none). */
double cost_shared_experts_s(const cost_model *c, int tokens);
/* One call of a predictor on the CPU for `tokens` tokens: a fixed time,
 * plus, for a predictor that reports its size (flops_per_token > 0), its
 * arithmetic and one read of its weights. */
double cost_prediction_s(const cost_model *c, double fixed_s, double flops_per_token,
                         double weight_bytes, double tokens);
/* The same work on the host's CPU (analytic even with a profile). */
double cost_attention_cpu_s(const cost_model *c, int tokens, int context);
double cost_router_cpu_s(const cost_model *c, int tokens);
double cost_shared_experts_cpu_s(const cost_model *c, int tokens);
/* Every weight of one layer: attention, router, shared and routed experts. */
double cost_layer_weight_bytes(const cost_model *c);
/* A step's cost beyond its layers' parts (output head, norms, launches):
 * measured by a profile's step_fixed table, else 0. */
double cost_step_fixed_s(const cost_model *c, int tokens);
/* Copying one expert's weights to the GPU. */
double cost_expert_load_s(const cost_model *c);
/* A regime's measure: how long a decode layer of one token computes
 * (attention at a context of 256, router, shared experts, its top-k
 * experts, framework time included) against one expert's copy.  A prefetch
 * can hide only behind compute, so offloading's regime turns on it. */
double cost_compute_per_copy(const cost_model *c);

#endif
