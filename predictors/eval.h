/* eval.h - how well a predictor predicts (`promoe predict eval`).
 *
 * The trace is read in order.  Tokens of training requests (the first
 * `split` of the request ids; for a trace of a single request, the first
 * `split` of its tokens, which the result says) are only observed.  On
 * the rest, after the predictor observes layer l of a one-token (decode)
 * iteration that follows an earlier token of its request (so every
 * predictor has the same context) it predicts layer l+s for each stride s; the `at` experts it
 * scores highest are compared with the experts the token really chose
 * there.  So stride s is scored on target layers s..L-1.  Iterations of
 * several tokens (prefill, batches) are observed but not scored.  Count-
 * based predictors keep learning from everything they observe, as a
 * running system would.
 *   precision@at = correct / predicted (at per scored target layer)
 *   recall@at    = correct / chosen (the token's experts at that layer)
 * With a cost model, the timing of each prediction too: it is made when
 * layer l's router has run and the predictor's CPU time (predictor_s plus
 * its FLOPs and weight bytes on the CPU) has passed, which leaves
 *   lead = s * layer time - prediction time
 * (layer time: attention at the token's position, router, top-k experts and
 * shared experts for one token, all resident) before layer l+s's router
 * chooses.  Predicted experts are copied one at a time in score order from
 * the moment of the prediction on an otherwise idle PCIe link, so the one
 * ranked j (from 1) arrives after j copy times:
 *   fetch rate = correct predictions that arrive within the lead / correct
 *   GoodPred   = precision * fetch rate (the paper's Accuracy x FetchRate)
 *   ahead      = correct predictions made at least one layer time before the
 *                router / chosen (the share of experts known one layer's
 *                compute ahead)
 * No expert is assumed cached, so the fetch rate is that of a cold cache.
 * A predictor that reads the future (the oracle) is shown the iteration
 * being scored, so it scores 1 (or its accuracy=p): a check of the harness.
 */
#ifndef PROMOE_PREDICTORS_EVAL_H
#define PROMOE_PREDICTORS_EVAL_H

#include <stdint.h>

#include "common/error.h"
#include "predictors/predictor.h"
#include "sim/cost.h"
#include "traces/trace.h"

typedef struct predictor_eval_config {
    int stride_lo, stride_hi;   /* inclusive, >= 1 */
    int at;                     /* experts predicted per layer; 0 = the trace's top-k */
    double split;               /* training share, [0, 1) */
    unsigned long seed;
    const cost_model *cost;     /* for the timing figures; NULL: none */
    double predictor_s;         /* fixed CPU time of one prediction */
    void (*progress)(const char *what, int64_t done, int64_t total); /* or NULL */
} predictor_eval_config;

typedef struct predictor_eval_result {
    int num_layers, num_strides, at;
    int by_position;            /* the split cut one request's tokens */
    int64_t train_tokens, test_tokens, scored_tokens;
    /* [stride - stride_lo][layer]: sums over scored targets */
    double *correct, *predicted, *chosen;
    double *in_time, *ahead;    /* with a cost model: see above */
    double *lead_s;             /* [stride - stride_lo]: summed over scored targets */
    int timed;
    predictor_info info;        /* the predictor's size and cost */
} predictor_eval_result;

/* The split rule, shared with predictors that train on a trace: the
 * training share is the first `split` of the request ids in order, or for a
 * single-request trace the first `split` of its tokens. */
typedef struct predictor_split {
    int32_t *ids;         /* request ids in order */
    size_t num_requests, num_train;
    int by_position;
    int64_t train_until;  /* by position: tokens before this index train */
} predictor_split;

int predictor_split_init(predictor_split *s, trace_reader *r, double split, promoe_err *err);
/* 1 if the iteration starting at token `first_token` of `request` trains. */
int predictor_split_trains(const predictor_split *s, int32_t request, int64_t first_token);
/* Index of request in ids (it must be one of the trace's). */
size_t predictor_split_index(const predictor_split *s, int32_t request);
void predictor_split_free(predictor_split *s);

/* Evaluates the predictor `spec` ("NAME[:options]") on PATH. */
int predictor_eval(const char *path, const char *spec, const predictor_eval_config *cfg,
                   predictor_eval_result *out, promoe_err *err);
void predictor_eval_free(predictor_eval_result *r);

/* Totals for one stride, over all its target layers. */
double predictor_eval_precision(const predictor_eval_result *r, int stride_index);
double predictor_eval_recall(const predictor_eval_result *r, int stride_index);
/* With a cost model: the fetch rate, GoodPred, the share of chosen experts
 * correctly predicted a layer time ahead, and the mean lead in seconds. */
double predictor_eval_fetch_rate(const predictor_eval_result *r, int stride_index);
double predictor_eval_goodpred(const predictor_eval_result *r, int stride_index);
double predictor_eval_ahead(const predictor_eval_result *r, int stride_index);
double predictor_eval_lead_s(const predictor_eval_result *r, int stride_index);

#endif
