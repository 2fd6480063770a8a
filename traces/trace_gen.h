/* trace_gen.h - synthetic traces from a small synthetic router model.
 *
 * Real traces with hidden states cannot be had here, so the generator runs
 * a stand-in for a model's routers.  For each token t and layer l a latent
 * hidden vector h[t][l] follows a separable Gaussian field:
 *   corr(h[t][l], h[t'][l']) = token_corr^|t-t'| * layer_corr^|l-l'|
 * (unit variance per component, tokens of one request in order), plus one
 * constant component that carries each expert's popularity bias.  Router
 * logits are W_l h, where consecutive layers' router weights are
 * correlated by router_corr (W_l = c W_{l-1} + sqrt(1-c^2) noise), experts
 * are the top-k, and gate weights the softmax
 * over the top-k (or over all experts, then the top-k, for models that do
 * not renormalise).  So token_corr drives next-token reuse, layer_corr
 * together with router_corr cross-layer predictability, and skew the
 * popularity skew.
 *
 * Requests have log-normal prompt and output lengths and Poisson arrivals,
 * and run one after another (batch 1): a prefill iteration, then one
 * iteration per decode step.  The same parameters and seed give the same
 * file, byte for byte.
 */
#ifndef PROMOE_TRACES_TRACE_GEN_H
#define PROMOE_TRACES_TRACE_GEN_H

#include <stdint.h>

#include "common/error.h"
#include "models/model.h"

typedef struct trace_gen_params {
    int hidden_dim;        /* width of stored hidden states (incl. the bias unit) */
    int num_requests;      /* stop after this many requests (0 = no limit) */
    int64_t max_tokens;    /* stop after this many tokens (0 = no limit) */
    double prompt_mean;    /* mean prompt length, tokens */
    double output_mean;    /* mean output length, tokens */
    double length_sigma;   /* log-normal sigma of both lengths */
    int max_len;           /* cap on either length */
    double rate;           /* request arrivals per second (Poisson) */
    double token_corr;     /* in [0, 1) */
    double layer_corr;     /* in [0, 1) */
    double layer_drift;    /* radians each layer turns the hidden state by */
    double router_corr;    /* in [0, 1]: similarity of consecutive routers */
    double skew;           /* std. dev. of per-expert popularity biases */
    double router_scale;   /* std. dev. of the input-dependent logit part */
    unsigned long seed;    /* the model (router weights), and tokens unless: */
    unsigned long token_seed; /* 0: tokens continue seed's stream; else their own
                              * stream, so traces of one model can differ */
    unsigned content;      /* enum trace_content: optional datasets to write */
    int compression;       /* enum trace_compression */
    const char *dataset;   /* name stored in requests/dataset */
    /* Called after each request with the tokens written so far and
     * max_tokens (0 when unbounded), or NULL. */
    void (*progress)(int64_t tokens, int64_t max_tokens);
} trace_gen_params;

void trace_gen_defaults(trace_gen_params *p);

/* Sets p's token_corr, router_corr and skew to what model m's preset gives
 * for its traces (trace_token_corr, ...), where it gives them. */
void trace_gen_model_defaults(trace_gen_params *p, const model_desc *m);

/* Checks parameter ranges; the message names the offending parameter. */
int trace_gen_check(const trace_gen_params *p, promoe_err *err);

/* Generates a trace for MODEL into PATH (atomically).  *tokens, if not
 * NULL, receives the number of tokens written. */
int trace_gen_write(const trace_gen_params *p, const model_desc *model, const char *path,
                    int64_t *tokens, promoe_err *err);

#endif
