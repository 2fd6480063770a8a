/* generate.h - requests run through a backend's model one after another
 * (batch 1, greedy decoding), timed, and optionally recorded as a trace
 * v1: for every token fed to the model (prompt tokens as one prefill
 * iteration, run as one step where the backend batches, else a token a
 * step; then each generated token but the last as a decode iteration),
 * each layer's chosen experts, gate weights and router logits,
 * and with record_hidden the hidden state entering each layer (or every
 * n-th) plus the router weights.  This is the project's recorder of real runs.
 *
 * With a cache, the routed experts live in slots whose contents the
 * simulator's decision engine decides (offload/engine.h, driven by the
 * real events: exec/offload_clock.h), and the expert store's copy thread
 * carries them out: a miss is a demand copy the layer waits for, a
 * prediction prefetch copies behind it (chunked, preempted by demands),
 * and with reorder the experts already copied run first.
 */
#ifndef PROMOE_EXEC_GENERATE_H
#define PROMOE_EXEC_GENERATE_H

#include <stdint.h>

#include "common/error.h"
#include "exec/backend.h"
#include "exec/offload_clock.h"
#include "exec/weights.h"
#include "offload/config.h"
#include "predictors/predictor.h"

typedef struct exec_prompt {
    const int32_t *ids;
    int n;
} exec_prompt;

typedef struct exec_gen_config {
    const exec_backend_ops *backend; /* NULL: cpu */
    int max_new;           /* tokens generated per request (>= 1) */
    const char *record;    /* trace to write (atomically), or NULL */
    int record_hidden;     /* also hidden/input (of every record_hidden-th layer,
                              the others zeros) and model/router_weight; 0: not */
    const char *source;    /* the trace's source attribute */
    const char *dataset;   /* requests/dataset */
    /* offloading: the system, as 'promoe sim' takes it (slots 0: every
     * expert resident; its predictor runs as pops with state pst, the
     * caller's, NULL: none) */
    offload_config offload;
    const predictor_ops *pops;
    void *pst;
    struct offload_log *log; /* records the engine's events, or NULL */
    /* called after each request with those done, or NULL */
    void (*progress)(int64_t done, int64_t total);
} exec_gen_config;

typedef struct exec_gen_result {
    int64_t requests, prefill_tokens, decode_tokens;
    double prefill_s, decode_s;      /* time in prefill steps and in decode steps */
    double ttft_ms_mean, tpot_ms_mean;
    double prefill_tokens_per_s, decode_tokens_per_s;
    int32_t *output;                 /* [requests][max_new] generated ids; caller frees */
    /* offloading: the engine's decisions and the copies made */
    offload_clock_stats offload;
    double prefill_wait_s, decode_wait_s; /* computing waiting for copies */
} exec_gen_result;

int exec_generate(const exec_weights *w, const exec_prompt *prompts, int n,
                  const exec_gen_config *cfg, exec_gen_result *r, promoe_err *err);

#endif
