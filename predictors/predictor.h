/* predictor.h - expert predictors: a table of operations and a registry.
 *
 * A predictor sees what a real system would have at that moment: the
 * simulator calls observe() after a layer's router has run, with that
 * layer's chosen experts (and gate weights and the hidden state entering the
 * layer, when the trace has them), and predict() for a layer not yet run:
 * a later layer of the current iteration (ahead = 0) or a layer of the next
 * one (ahead = 1).  Only predictors marked needs_future (the oracle, an
 * upper bound that says so in its name) get a view of the trace's future.
 * Adding a predictor means one new file and one line in predictors/predictor.c.
 */
#ifndef PROMOE_PREDICTORS_PREDICTOR_H
#define PROMOE_PREDICTORS_PREDICTOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "traces/trace.h"

/* The trace's future, for oracle predictors: the experts chosen at `layer`
 * by the tokens of the iteration `ahead` iterations from the current one.
 * Returns the number of tokens (ids is [n][K], -1 = missing), 0 if there is
 * no such iteration. */
typedef struct predictor_future {
    size_t (*experts)(void *ctx, int ahead, int layer, const int16_t **ids);
    void *ctx;
} predictor_future;

typedef struct predictor_env {
    int num_layers, num_experts, top_k, hidden_dim;
    /* the strides the caller will ask for (layer l predicting l + s), so a
     * trained predictor can train just those or refuse a file without them */
    int stride_lo, stride_hi;
    unsigned long seed;
    const predictor_future *future; /* NULL unless the predictor needs_future */
    const float *router_weight;     /* [L][E][D] if the predictor needs_hidden */
    /* called now and then during long work (training), or NULL */
    void (*progress)(const char *what, int64_t done, int64_t total);
} predictor_env;

/* What a predictor says about its size, cost and training (0: none). */
typedef struct predictor_info {
    double params;          /* trained parameters, all its models together */
    double flops;           /* one prediction: one token, one target layer */
    double bytes;           /* weights one prediction reads (once per call) */
    int64_t train_samples;  /* (token, layer, stride) examples seen per epoch */
    int epochs;
    double train_seconds;
    double train_loss;      /* mean loss over the last epoch */
    int stride_lo, stride_hi; /* the strides it has models for (0: any) */
} predictor_info;

/* What the model just computed at one layer of the current iteration. */
typedef struct predictor_obs {
    int layer;
    size_t num_tokens;
    const int32_t *request, *position;
    const int16_t *experts;  /* [n][K], -1 = missing */
    const float *weights;    /* [n][K] or NULL */
    const float *hidden;     /* [n][D] entering the layer, or NULL */
} predictor_obs;

typedef struct predictor_ops {
    const char *name;
    const char *summary;
    int needs_future;
    /* needs hidden states (in observe) and the router weights: traces
     * without them cannot serve it */
    int needs_hidden;
    /* cannot run without training data named in its options (train=...):
     * systems fall back past it unless the user names it */
    int needs_training;
    /* options: "k=v,k=v" (may be empty) */
    void *(*create)(const predictor_env *env, const char *options, promoe_err *err);
    /* A new iteration begins (the next one becomes the current one). */
    void (*begin_iteration)(void *st);
    void (*observe)(void *st, const predictor_obs *obs);
    /* Scores for every expert of `layer` in the iteration `ahead` from now
     * (0 or 1); higher is likelier, 0 means not expected. */
    void (*predict)(void *st, int ahead, int layer, double *scores);
    void (*destroy)(void *st);
    /* Optional: fills *out. */
    void (*info)(void *st, predictor_info *out);
    /* Optional: writes the trained state to PATH (atomically) so that
     * NAME:file=PATH loads it instead of training again. */
    int (*save)(void *st, const char *path, promoe_err *err);
} predictor_ops;

/* Scratch that observations are built in, reused from step to step. */
typedef struct predictor_obs_buf {
    int16_t *ids;     /* [n][K] */
    float *hidden;    /* [n][D] */
    size_t ids_cap, hidden_cap;
} predictor_obs_buf;

/* Fills *obs for `layer` of a step of n tokens whose experts are [n][L][K]
 * and hidden states [n][L][D] (hidden may be NULL); the layer's rows are
 * gathered into buf.  Returns -1 when out of memory. */
int predictor_obs_fill(predictor_obs_buf *buf, predictor_obs *obs, int layer, size_t n, int L,
                       int K, int D, const int32_t *request, const int32_t *position,
                       const int16_t *experts, const float *hidden);
void predictor_obs_buf_free(predictor_obs_buf *buf);

/* The hidden states of the latest observation, kept by predictors that
 * compute on them (gate-reuse, learned): rows [n][D]. */
typedef struct predictor_hidden {
    float *rows;
    size_t n, cap;
} predictor_hidden;

/* Copies obs's hidden states (D wide) into k; -1, with k unchanged, when
 * obs has none or memory runs out. */
int predictor_hidden_keep(predictor_hidden *k, const predictor_obs *obs, int D);
void predictor_hidden_free(predictor_hidden *k);

/* Creates the predictor `spec` ("NAME[:k=v,...]") for the trace open in r
 * (read from PATH), filling env's model fields, its router weights when the
 * predictor needs_hidden, and its strides, seed and progress from *base. */
void *predictor_create_for_trace(const predictor_ops *ops, const char *options,
                                 trace_reader *r, const char *path, const predictor_env *base,
                                 promoe_err *err);
/* The experts worth prefetching for `layer`, `ahead` iterations from now:
 * the predictor's scores, less those under min_prob of their mass (as a
 * share of K), the `limit` highest written to ranked, highest first;
 * returns how many.  scores is scratch of E entries. */
int predictor_pick(const predictor_ops *ops, void *st, int ahead, int layer, int E, int K,
                   int limit, double min_prob, double *scores, int *ranked);
/* The sum of the positive scores. */
double predictor_score_total(const double *scores, int E);
/* The chance that one of `tokens` tokens chooses an expert of this score,
 * among scores summing to total: each token does with K * score / total
 * (at most 1), so at least one with 1 - (1 - p)^tokens. */
double predictor_chance(double score, double total, int K, int tokens);
/* The experts the prediction predictor_pick left in scores makes more
 * likely than not to be chosen by one of the target step's `tokens`
 * tokens (each token chooses x with chance K * score / total, at most 1;
 * at least one does with 1 - (1 - p)^tokens >= 1/2), written to out;
 * returns how many.  A prefetch must not evict one of them for another. */
int predictor_expected(const double *scores, int E, int K, int tokens, int *out);

/* The predictor's info, zeros when it has none. */
predictor_info predictor_get_info(const predictor_ops *ops, void *st);

const predictor_ops *predictor_find(const char *name);
const char *predictor_names(void);
extern const predictor_ops *const predictor_registry[];


#endif
