/* cpu_model.h - the MoE decoder run on the CPU in fp32 (OpenBLAS), the
 * "cpu" backend (exec/backend.h): per layer RMSNorm, grouped-query
 * attention with rotary embeddings and a KV cache (and, where the
 * checkpoint has them, query/key norms and attention biases), RMSNorm, a
 * softmax router choosing the top-k experts (their weights renormalised
 * when the model family does), SwiGLU experts and shared experts (gated
 * where the checkpoint has a gate), each block added to the residual
 * stream; then the final norm and the output head.  A step runs one token
 * or several (a prompt's, batched): each layer takes them together, the
 * projections and each expert's tokens as one GEMM.
 */
#ifndef PROMOE_EXEC_CPU_MODEL_H
#define PROMOE_EXEC_CPU_MODEL_H

#include "common/error.h"
#include "exec/backend.h"
#include "exec/weights.h"

typedef struct exec_cpu_model exec_cpu_model;

/* A model over w (which must outlive it) with a KV cache of max_positions
 * tokens. */
exec_cpu_model *exec_cpu_create(const exec_weights *w, int max_positions, promoe_err *err);
void exec_cpu_free(exec_cpu_model *m);

void exec_cpu_set_expert_source(exec_cpu_model *m, const exec_expert_source *src);

/* Runs the n tokens at positions pos..pos + n - 1 (positions 0..pos-1
 * must have run since the cache was last cleared: a request's tokens in
 * order) and writes the vocabulary's logits for the last.  observe may be
 * NULL. */
int exec_cpu_step(exec_cpu_model *m, const int32_t *tokens, int n, int pos, float *logits,
                  exec_route_fn observe, void *ctx, promoe_err *err);

/* The model's operations timed for a step of `tokens` tokens
 * (exec_op_times): attention (norm, projections, rotary, softmax over the
 * `context` cached positions and the step's, output projection), the
 * router (norm, logits, top-k), one routed expert on every token, all
 * shared experts.  What `promoe profile` tabulates. */
int exec_cpu_time_ops(exec_cpu_model *m, int context, int tokens, int reps, exec_op_times *t,
                      promoe_err *err);

/* Helpers, public for the tests that check them by hand. */
void exec_rmsnorm(const float *x, const float *w, int n, double eps, float *out);
void exec_rope(float *v, int head_dim, int pos, double theta);

#endif
