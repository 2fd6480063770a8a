/* backend.h - where the executor's model runs: a table of operations per
 * backend and a registry by name ("cpu"; "cuda" where this build has the
 * CUDA toolkit).  Adding a backend means one file and one registry line.
 *
 * A backend steps tokens through the MoE decoder: one, or a prompt's
 * together where it runs batched steps.  An observer sees each layer's
 * routing right after its router (what a trace records, and when the
 * offloading decides); then the layer's routed experts run one by one from
 * where an expert source says they are, each on the step's tokens that
 * chose it.
 */
#ifndef PROMOE_EXEC_BACKEND_H
#define PROMOE_EXEC_BACKEND_H

#include <stdint.h>

#include "common/error.h"
#include "exec/expert_store.h"
#include "exec/weights.h"

typedef struct exec_routing {
    int layer;
    int tokens;           /* the step's */
    const float *hidden;  /* [tokens][d]: the residual stream entering the layer */
    const float *logits;  /* [tokens][E]: the router's logits */
    const int *experts;   /* [tokens][K], in rank order (highest weight first) */
    const float *weights; /* [tokens][K] */
} exec_routing;

/* Returns 0, or -1 with err set to stop the step. */
typedef int (*exec_route_fn)(void *ctx, const exec_routing *r, promoe_err *err);

/* Where a routed expert's block (gate, up, down, in the backend's
 * precision) is read from when it runs: by default the backend's own copy
 * of every expert; the offloading executor gives its slots instead.  After
 * the observer of a layer, its distinct experts (experts[], in the order
 * the step's tokens first chose them) run one by one: `next` picks which
 * of those still pending (indices into experts[], pending[0..n)) runs next
 * (NULL: in order), `acquire` returns its block once there (NULL on
 * failure, with err), `release` says it has run.  Each token's expert
 * outputs are summed in rank order whatever order they ran in, so the
 * order changes no result. */
typedef struct exec_expert_source {
    int (*next)(void *ctx, int layer, const int *experts, const int *pending, int n);
    const void *(*acquire)(void *ctx, int layer, int expert, promoe_err *err);
    void (*release)(void *ctx, int layer, int expert);
    void *ctx;
} exec_expert_source;

/* One step's operations, each the median of several runs on other layers
 * and experts (weights from memory, as in a real step): attention at a
 * context, the router, one routed expert, all shared experts (0 if none). */
typedef struct exec_op_times {
    double attention_s, router_s, expert_s, shared_s;
} exec_op_times;

typedef struct exec_backend_ops {
    const char *name;
    const char *summary;
    /* A model over w (which must outlive it) with a KV cache of
     * max_positions tokens; with offload, routed experts stay in host
     * memory and run only from an expert source's slots. */
    void *(*create)(const exec_weights *w, int max_positions, int offload, promoe_err *err);
    void (*destroy)(void *m);
    /* Runs the n tokens at positions pos..pos + n - 1 (positions 0..pos-1
     * of the request ran before) and writes the last one's logits to host
     * memory; observe may be NULL.  n is 1 unless `batched`. */
    int (*step)(void *m, const int32_t *tokens, int n, int pos, float *logits,
                exec_route_fn observe, void *ctx, promoe_err *err);
    /* 1 if a step takes a prompt's tokens together (a batched prefill);
     * 0: one token a step */
    int batched;
    void (*set_expert_source)(void *m, const exec_expert_source *src);
    /* How this backend's expert slots are allocated and filled. */
    expert_mover (*mover)(void *m);
    /* The operations for a step of `tokens` tokens (1 unless batched)
     * after `context` cached ones (context + tokens <= max_positions). */
    int (*time_ops)(void *m, int context, int tokens, int reps, exec_op_times *t,
                    promoe_err *err);
    /* The device, in words ("cpu (16 processors, fp32 OpenBLAS)"). */
    void (*describe)(void *m, char *buf, size_t len);
} exec_backend_ops;

/* Runs a layer's K routed experts (experts[], rank order) in the order
 * src picks: each one's block acquired, computed by compute(ctx, block,
 * its rank), released.  pending is scratch of K.  0, or -1 with err when
 * an acquire or a computation fails.  Both backends schedule through it. */
int exec_run_experts(const exec_expert_source *src, int layer, const int *experts, int K,
                     int *pending, int (*compute)(void *ctx, const void *block, int rank,
                                                  promoe_err *err),
                     void *ctx, promoe_err *err);

/* The backend called name, NULL with err set when there is none or its
 * plugin cannot be loaded. */
const exec_backend_ops *exec_backend_find(const char *name, promoe_err *err);
/* The backends this build has, comma-separated. */
const char *exec_backend_names(void);

#endif
