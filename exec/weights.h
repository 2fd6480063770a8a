/* weights.h - a MoE decoder's weights in host memory, fp32, laid out for
 * the executor: each routed expert one contiguous block of its three
 * matrices (gate, up, down), so that offloading moves it in three chunks,
 * one a matrix, as the paper does.
 *
 * Matrices are row-major W[out][in] (y = W x).  Per layer: attention norm,
 * wq [H*hd][d], wk and wv [KV*hd][d], wo [d][H*hd], FFN norm, router
 * [E][d], the routed experts and the shared ones (gate [F][d], up [F][d],
 * down [d][F] each).  Around the layers: the embedding [V][d], the final
 * norm and the output head [V][d].
 */
#ifndef PROMOE_EXEC_WEIGHTS_H
#define PROMOE_EXEC_WEIGHTS_H

#include <stddef.h>

#include "common/error.h"
#include "models/model.h"

typedef struct exec_layer_weights {
    float *attn_norm, *wq, *wk, *wv, *wo;
    float *ffn_norm, *router;
    float *experts; /* [E][3 * F * d]: expert e's block at e * exec_expert_floats */
    float *shared;  /* [S][3 * Fs * d] */
    /* parts some families have (NULL when absent): norms of the query and
     * key projections (OLMoE: over the whole projection, q_norm [H*hd];
     * Qwen3: per head, [hd]), attention biases (Qwen), and a gate on the
     * shared expert, sigmoid(shared_gate . x) (Qwen-MoE) */
    float *q_norm, *k_norm;
    float *bq, *bk, *bv;
    float *shared_gate;
} exec_layer_weights;

typedef struct exec_weights {
    model_desc model;
    float *embed, *final_norm, *lm_head;
    exec_layer_weights *layers; /* [L] */
    float *arena;               /* every array above lives in it */
    size_t floats;
    float *extras;              /* the optional parts, when present */
    int qk_norm_width;          /* floats a query/key norm spans: hd or H*hd */
} exec_weights;

/* The optional parts of exec_layer_weights. */
enum exec_extra {
    EXEC_QK_NORM = 1 << 0,
    EXEC_QKV_BIAS = 1 << 1,
    EXEC_SHARED_GATE = 1 << 2,
};

/* Floats of one routed expert (3 * F * d) and of the whole model. */
size_t exec_expert_floats(const model_desc *m);
double exec_model_floats(const model_desc *m);

/* Checks that the executor can run the model's shapes (heads a multiple of
 * KV heads, an even head dim for rotary embeddings). */
int exec_model_check(const model_desc *m, promoe_err *err);

/* Room for m's weights, every array placed in the arena, unfilled.
 * Refused up front if they do not fit in memory. */
int exec_weights_alloc(const model_desc *m, exec_weights *w, promoe_err *err);

/* Deterministic random weights with the model's shapes: uniform, with
 * variance 1/in for a matrix of `in` inputs, norms near 1; each value a hash
 * of (seed, tensor, index), filled by a thread per share of the layers.
 * Refused up front if they do not fit in memory. */
int exec_weights_synthetic(const model_desc *m, unsigned long seed, exec_weights *w,
                           promoe_err *err);
void exec_weights_free(exec_weights *w);

/* Room for the optional parts `which` (enum exec_extra) in every layer,
 * unfilled; qk_norm_width is the model's head_dim or H * head_dim (the
 * key norm spans the same share of the key projection).  A gated shared
 * expert needs exactly one shared expert. */
int exec_weights_add_extras(exec_weights *w, unsigned which, int qk_norm_width, promoe_err *err);

/* Every layer's router, stacked [L][E][d] as traces and predictors hold
 * them; the caller frees it.  NULL when out of memory. */
float *exec_weights_routers(const exec_weights *w);

#endif
