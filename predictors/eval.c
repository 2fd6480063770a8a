#include "predictors/eval.h"

#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "common/topk.h"
#include "traces/trace.h"

void predictor_eval_free(predictor_eval_result *r)
{
    free(r->correct);
    free(r->predicted);
    free(r->chosen);
    free(r->in_time);
    free(r->ahead);
    free(r->lead_s);
    memset(r, 0, sizeof *r);
}

static double total(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* sum of a[stride] over its layers / sum of b[stride]; 0 without a (the
 * timing figures of an untimed run) */
static double ratio(const predictor_eval_result *r, const double *a, const double *b, int si)
{
    if (!a || !b)
        return 0;
    double d = total(b + (size_t)si * r->num_layers, r->num_layers);
    return d > 0 ? total(a + (size_t)si * r->num_layers, r->num_layers) / d : 0;
}

double predictor_eval_precision(const predictor_eval_result *r, int si)
{
    return ratio(r, r->correct, r->predicted, si);
}

double predictor_eval_recall(const predictor_eval_result *r, int si)
{
    return ratio(r, r->correct, r->chosen, si);
}

double predictor_eval_fetch_rate(const predictor_eval_result *r, int si)
{
    return ratio(r, r->in_time, r->correct, si);
}

double predictor_eval_goodpred(const predictor_eval_result *r, int si)
{
    return ratio(r, r->in_time, r->predicted, si);
}

double predictor_eval_ahead(const predictor_eval_result *r, int si)
{
    return ratio(r, r->ahead, r->chosen, si);
}

double predictor_eval_lead_s(const predictor_eval_result *r, int si)
{
    double targets = total(r->predicted + (size_t)si * r->num_layers, r->num_layers) / r->at;
    return r->lead_s && targets > 0 ? r->lead_s[si] / targets : 0;
}

/* The oracle's view in an evaluation: the current iteration's layers. */
typedef struct eval_future {
    const trace_iteration *it;
    int L, K;
    predictor_obs_buf buf;
} eval_future;

static size_t eval_future_experts(void *ctx, int ahead, int layer, const int16_t **ids)
{
    eval_future *f = ctx;
    predictor_obs view;
    if (ahead != 0 || !f->it || layer < 0 || layer >= f->L ||
        predictor_obs_fill(&f->buf, &view, layer, f->it->num_tokens, f->L, f->K, 0,
                           f->it->request, f->it->position, f->it->experts, NULL) < 0)
        return 0;
    *ids = view.experts;
    return f->it->num_tokens;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int predictor_split_init(predictor_split *s, trace_reader *r, double split, promoe_err *err)
{
    const trace_meta *m = trace_reader_meta(r);
    size_t R = (size_t)m->num_requests;
    memset(s, 0, sizeof *s);
    if (!(s->ids = malloc((R + 1) * sizeof *s->ids)))
        return promoe_err_set(err, "out of memory");
    for (size_t i = 0; i < R; i++)
        s->ids[i] = trace_reader_requests(r)[i].id;
    qsort(s->ids, R, sizeof *s->ids, cmp_i32);
    s->num_requests = R;
    s->by_position = R == 1 && split > 0;
    s->num_train = s->by_position ? 0 : (size_t)(split * (double)R);
    s->train_until = (int64_t)(split * (double)m->num_tokens);
    return 0;
}

size_t predictor_split_index(const predictor_split *s, int32_t request)
{
    const int32_t *at = bsearch(&request, s->ids, s->num_requests, sizeof *s->ids, cmp_i32);
    return (size_t)(at - s->ids);
}

int predictor_split_trains(const predictor_split *s, int32_t request, int64_t first_token)
{
    return s->by_position ? first_token < s->train_until
                          : predictor_split_index(s, request) < s->num_train;
}

void predictor_split_free(predictor_split *s)
{
    free(s->ids);
    memset(s, 0, sizeof *s);
}

int predictor_eval(const char *path, const char *spec, const predictor_eval_config *cfg,
                   predictor_eval_result *out, promoe_err *err)
{
    memset(out, 0, sizeof *out);
    char name[64];
    const char *opts = options_split_spec(spec, name, sizeof name);
    const predictor_ops *ops = predictor_find(name);
    if (!ops)
        return promoe_err_set(err, "unknown predictor '%s' (predictors: %s)", name,
                              predictor_names());
    if (cfg->stride_lo < 1 || cfg->stride_hi < cfg->stride_lo)
        return promoe_err_set(err, "strides %d..%d: give 1 <= first <= last", cfg->stride_lo,
                              cfg->stride_hi);
    if (!(cfg->split >= 0 && cfg->split < 1))
        return promoe_err_set(err, "split %g must be in [0, 1)", cfg->split);
    trace_reader *r = trace_reader_open(path, ops->needs_hidden ? TRACE_HIDDEN : 0, err);
    if (!r)
        return promoe_err_prefix(err, "predictor %s", name);
    const trace_meta *m = trace_reader_meta(r);
    int L = m->num_layers, E = m->num_experts, K = m->top_k;
    int S = cfg->stride_hi - cfg->stride_lo + 1;
    int at = cfg->at > 0 ? cfg->at : K;
    int rc = -1;
    void *st = NULL;
    predictor_split split = {0};
    uint8_t *started = NULL; /* [request index]: a token of it has been read */
    predictor_obs_buf obs_buf = {0};
    trace_iteration it;
    eval_future future = {.L = L, .K = K}; /* the oracle's view of `it` */
    double *scores = malloc((size_t)E * sizeof *scores);
    int *top = malloc((size_t)E * sizeof *top);
    out->num_layers = L;
    out->num_strides = S;
    out->at = at;
    out->correct = calloc((size_t)S * L, sizeof(double));
    out->predicted = calloc((size_t)S * L, sizeof(double));
    out->chosen = calloc((size_t)S * L, sizeof(double));
    out->timed = cfg->cost != NULL;
    if (out->timed) {
        out->in_time = calloc((size_t)S * L, sizeof(double));
        out->ahead = calloc((size_t)S * L, sizeof(double));
        out->lead_s = calloc((size_t)S, sizeof(double));
    }
    if (!scores || !top || !out->correct || !out->predicted || !out->chosen ||
        (out->timed && (!out->in_time || !out->ahead || !out->lead_s))) {
        promoe_err_set(err, "out of memory");
        goto out;
    }
    if (at > E) {
        promoe_err_set(err, "--at %d exceeds the %d experts of a layer", at, E);
        goto out;
    }
    if (predictor_split_init(&split, r, cfg->split, err) < 0)
        goto out;
    out->by_position = split.by_position;
    if (!(started = calloc(split.num_requests + 1, 1))) {
        promoe_err_set(err, "out of memory");
        goto out;
    }
    predictor_future view = {eval_future_experts, &future};
    predictor_env base = {.stride_lo = cfg->stride_lo, .stride_hi = cfg->stride_hi,
                          .seed = cfg->seed, .progress = cfg->progress,
                          .future = ops->needs_future ? &view : NULL};
    if (!(st = predictor_create_for_trace(ops, opts, r, path, &base, err)))
        goto out;
    out->info = predictor_get_info(ops, st);
    double predict_s = 0, copy_s = 0;
    if (out->timed) {
        const cost_model *c = cfg->cost;
        predict_s = cost_prediction_s(c, cfg->predictor_s, out->info.flops, out->info.bytes, 1);
        copy_s = cost_transfer_s(c, (double)model_expert_bytes(&c->model));
    }
    int got;
    while ((got = trace_read_iteration(r, &it, err)) > 0) {
        future.it = &it;
        size_t ri = predictor_split_index(&split, it.request[0]);
        int train = predictor_split_trains(&split, it.request[0], it.first_token);
        *(train ? &out->train_tokens : &out->test_tokens) += (int64_t)it.num_tokens;
        /* scored: decode tokens that follow an earlier token of their request */
        int scored = !train && it.num_tokens == 1 && started[ri];
        for (size_t t = 0; t < it.num_tokens; t++)
            started[predictor_split_index(&split, it.request[t])] = 1;
        out->scored_tokens += scored;
        double layer_s = 0;
        if (scored && out->timed) {
            const cost_model *c = cfg->cost;
            layer_s = cost_attention_s(c, 1, it.position[0]) + cost_router_s(c, 1) +
                      cost_shared_experts_s(c, 1) + K * cost_expert_s(c, 1);
        }
        ops->begin_iteration(st);
        for (int l = 0; l < L; l++) {
            predictor_obs obs;
            if (predictor_obs_fill(&obs_buf, &obs, l, it.num_tokens, L, K, m->hidden_dim,
                                   it.request, it.position, it.experts, it.hidden) < 0) {
                promoe_err_set(err, "out of memory");
                goto out;
            }
            ops->observe(st, &obs);
            for (int s = cfg->stride_lo; scored && s <= cfg->stride_hi && l + s < L; s++) {
                int target = l + s;
                size_t cell = (size_t)(s - cfg->stride_lo) * L + (size_t)target;
                const int16_t *actual = it.experts + (size_t)target * K;
                if (trace_record_missing(actual, K))
                    continue; /* nothing to score against: not a wrong guess */
                ops->predict(st, 0, target, scores);
                topk_select(scores, E, at, top);
                double lead = s * layer_s - predict_s;
                for (int k = 0; k < K; k++) {
                    if (actual[k] < 0)
                        continue;
                    out->chosen[cell] += 1;
                    for (int j = 0; j < at; j++)
                        if (top[j] == actual[k] && scores[top[j]] > 0) {
                            out->correct[cell] += 1;
                            if (out->timed) {
                                out->in_time[cell] += (j + 1) * copy_s <= lead;
                                out->ahead[cell] += lead >= layer_s;
                            }
                        }
                }
                out->predicted[cell] += at;
                if (out->timed)
                    out->lead_s[s - cfg->stride_lo] += lead;
            }
        }
    }
    rc = got < 0 ? -1 : 0;
out:
    if (st)
        ops->destroy(st);
    free(scores);
    free(top);
    predictor_split_free(&split);
    free(started);
    predictor_obs_buf_free(&obs_buf);
    predictor_obs_buf_free(&future.buf);
    trace_reader_close(r);
    if (rc < 0)
        predictor_eval_free(out);
    return rc;
}
