/* cpu_model.h - the MoE decoder run on the CPU in fp32 (OpenBLAS): per
 * layer RMSNorm, grouped-query attention with rotary embeddings and a KV
 * cache, RMSNorm, a softmax router choosing the top-k experts (their
 * weights renormalised when the model family does), SwiGLU experts and
 * shared experts (gated where the checkpoint has a gate), each block added to the residual stream; then the final
 * norm and the output head.  One token at a time.
 *
 * An observer sees, per layer, what a trace records: the hidden state
 * entering the layer, the router's logits, the chosen experts and their
 * gate weights.
 */
#ifndef PROMOE_EXEC_CPU_MODEL_H
#define PROMOE_EXEC_CPU_MODEL_H

#include "common/error.h"
#include "exec/weights.h"


typedef struct exec_routing {
    int layer;
    const float *hidden;  /* [d]: the residual stream entering the layer */
    const float *logits;  /* [E]: the router's logits */
    const int *experts;   /* [K], in rank order (highest weight first) */
    const float *weights; /* [K] */
} exec_routing;

/* Returns 0, or -1 with err set to stop the step. */
typedef int (*exec_route_fn)(void *ctx, const exec_routing *r, promoe_err *err);

typedef struct exec_cpu_model exec_cpu_model;

/* A model over w (which must outlive it) with a KV cache of max_positions
 * tokens. */
exec_cpu_model *exec_cpu_create(const exec_weights *w, int max_positions, promoe_err *err);
void exec_cpu_free(exec_cpu_model *m);

/* Where a routed expert's weights (one block: gate, up, down) are read
 * from when it runs: by default the weights themselves (every expert
 * resident); the offloading executor gives its slots instead.  After the
 * router (and the observer) of a layer, its experts run one by one: `next`
 * picks which of those still pending (indices into the rank order,
 * pending[0..n)) runs next (NULL: rank order), `acquire` returns its block
 * once there (NULL on failure, with err), `release` says it has run.  The
 * experts' outputs are summed in rank order whatever order they ran in, so
 * the order changes no result. */
typedef struct exec_expert_source {
    int (*next)(void *ctx, int layer, const int *experts, const int *pending, int n);
    const float *(*acquire)(void *ctx, int layer, int expert, promoe_err *err);
    void (*release)(void *ctx, int layer, int expert);
    void *ctx;
} exec_expert_source;
void exec_cpu_set_expert_source(exec_cpu_model *m, const exec_expert_source *src);

/* Runs token `token` at position pos (positions 0..pos-1 must have run
 * since the cache was last cleared: a request's tokens in order) and
 * writes the vocabulary's logits.  observe may be NULL. */
int exec_cpu_step(exec_cpu_model *m, int token, int pos, float *logits, exec_route_fn observe,
                  void *ctx, promoe_err *err);

/* The model's operations timed for one token (each the median of `reps`
 * runs, each run on another layer and expert, so that its weights come
 * from memory as in a real step, not from the CPU's caches): attention (norm, projections, rotary, softmax over
 * `context` + 1 cached positions, output projection), the router (norm,
 * logits, top-k), one routed expert, all shared experts (0 if none).
 * What `promoe profile` tabulates; context must be below max_positions. */
typedef struct exec_op_times {
    double attention_s, router_s, expert_s, shared_s;
} exec_op_times;
int exec_cpu_time_ops(exec_cpu_model *m, int context, int reps, exec_op_times *t,
                      promoe_err *err);

/* Helpers, public for the tests that check them by hand. */
void exec_rmsnorm(const float *x, const float *w, int n, double eps, float *out);
void exec_rope(float *v, int head_dim, int pos, double theta);
/* Softmax of E logits, the top k (descending), and their weights
 * (renormalised over the k when normalize); prob and pick are scratch of
 * E entries each. */
void exec_route(const float *logits, int E, int k, int normalize, double *prob, int *pick,
                int *experts, float *weights);

#endif
