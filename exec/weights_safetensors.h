/* weights_safetensors.h - a real model's weights, from safetensors files
 * named as Hugging Face checkpoints name them (`promoe exec --weights`).
 *
 * PATH is one .safetensors file or a folder of them (a sharded checkpoint:
 * every *.safetensors, in name order).  Names: model.embed_tokens,
 * model.layers.L.{input_layernorm, self_attn.{q,k,v,o}_proj,
 * post_attention_layernorm}, the router and experts as Mixtral names them
 * (block_sparse_moe.gate, block_sparse_moe.experts.E.{w1, w3, w2}) or as
 * OLMoE, Qwen-MoE and DeepSeek-MoE do (mlp.gate, mlp.experts.E.{gate,up,
 * down}_proj), shared experts as Qwen (mlp.shared_expert.*) or DeepSeek
 * (mlp.shared_experts.*, one MLP as wide as all of them: split) name them,
 * model.norm and lm_head (the embedding when tied); and where a family has
 * them, self_attn.{q,k}_norm (OLMoE: over the projection; per head as
 * Qwen3 has them), self_attn.{q,k,v}_proj.bias (Qwen) and
 * mlp.shared_expert_gate (Qwen-MoE).  F32, F16 and BF16 are read into
 * fp32.  Shapes must match the model preset (whose rope_theta and
 * rms_norm_eps the model computes with).
 */
#ifndef PROMOE_EXEC_WEIGHTS_SAFETENSORS_H
#define PROMOE_EXEC_WEIGHTS_SAFETENSORS_H

#include "common/error.h"
#include "exec/weights.h"

int exec_weights_load(const model_desc *m, const char *path, exec_weights *w, promoe_err *err);

/* What a --weights option names: "synthetic" (exec_weights_synthetic with
 * seed) or a checkpoint path (exec_weights_load). */
int exec_weights_from(const model_desc *m, const char *spec, unsigned long seed, exec_weights *w,
                      promoe_err *err);

/* Writes w in Mixtral's naming (a shared expert, norms, biases and gate as
 * Qwen-MoE and OLMoE name them; at most one shared expert), F32 or (half)
 * F16, as one file: how the tests make a checkpoint of their own. */
int exec_weights_save(const exec_weights *w, const char *path, int half, promoe_err *err);

#endif
