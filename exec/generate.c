#include "exec/generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/grow.h"
#include "exec/backend.h"
#include "exec/offload_clock.h"
#include "traces/trace.h"

/* The routing of the iteration being run, kept until it is appended. */
typedef struct recorder {
    const model_desc *m;
    int record_hidden;
    size_t n;                /* tokens buffered */
    int32_t *request, *position;
    uint8_t *phase;
    int16_t *experts;        /* [n][L][K] */
    float *weights, *logits, *hidden;
} recorder;

/* Room for iterations of up to `tokens` tokens. */
static int recorder_reserve(recorder *rc, size_t tokens)
{
    size_t L = (size_t)rc->m->num_layers, K = (size_t)rc->m->top_k;
    size_t E = (size_t)rc->m->num_experts, D = (size_t)rc->m->hidden_size;
    const grow_column columns[] = {
        {(void **)&rc->request, sizeof *rc->request},
        {(void **)&rc->position, sizeof *rc->position},
        {(void **)&rc->phase, sizeof *rc->phase},
        {(void **)&rc->experts, L * K * sizeof *rc->experts},
        {(void **)&rc->weights, L * K * sizeof *rc->weights},
        {(void **)&rc->logits, L * E * sizeof *rc->logits},
        {(void **)&rc->hidden, rc->record_hidden ? L * D * sizeof *rc->hidden : 0},
    };
    return grow_columns(columns, sizeof columns / sizeof *columns, tokens);
}

static void recorder_free(recorder *rc)
{
    free(rc->request);
    free(rc->position);
    free(rc->phase);
    free(rc->experts);
    free(rc->weights);
    free(rc->logits);
    free(rc->hidden);
}

/* One layer of the step's tokens, the last r->tokens buffered. */
static void record_layer(recorder *rc, const exec_routing *r)
{
    size_t L = (size_t)rc->m->num_layers, K = (size_t)rc->m->top_k;
    size_t E = (size_t)rc->m->num_experts, D = (size_t)rc->m->hidden_size;
    for (size_t i = 0; i < (size_t)r->tokens; i++) {
        size_t at = (rc->n - (size_t)r->tokens + i) * L + (size_t)r->layer;
        for (size_t k = 0; k < K; k++) {
            rc->experts[at * K + k] = (int16_t)r->experts[i * K + k];
            rc->weights[at * K + k] = r->weights[i * K + k];
        }
        memcpy(rc->logits + at * E, r->logits + i * E, E * sizeof(float));
        if (rc->record_hidden && r->layer % rc->record_hidden == 0)
            memcpy(rc->hidden + at * D, r->hidden + i * D, D * sizeof(float));
        else if (rc->record_hidden) /* a layer between those kept */
            memset(rc->hidden + at * D, 0, D * sizeof(float));
    }
}

static int flush(recorder *rc, trace_writer *tw, int32_t iteration, promoe_err *err)
{
    if (!tw || rc->n == 0)
        return 0;
    trace_iteration it = {.id = iteration, .num_tokens = rc->n, .request = rc->request,
                          .position = rc->position, .phase = rc->phase,
                          .experts = rc->experts, .weights = rc->weights,
                          .logits = rc->logits, .hidden = rc->hidden};
    rc->n = 0;
    return trace_writer_append(tw, &it, err);
}

/* What watches each layer: the recorder and the offloading, either may be
 * off. */
typedef struct watcher {
    recorder *rc;          /* NULL: not recording */
    offload_clock *off;    /* NULL: every expert resident */
    int32_t request, position; /* of the token running */
} watcher;

static int watch_layer(void *ctx, const exec_routing *r, promoe_err *err)
{
    watcher *wt = ctx;
    if (wt->rc)
        record_layer(wt->rc, r);
    return wt->off ? offload_clock_gate(wt->off, r, wt->request, wt->position, err) : 0;
}

/* Time computing has waited for copies so far. */
static double waited_s(const watcher *wt)
{
    return wt->off ? offload_clock_waited_s(wt->off) : 0;
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* The model being run, on its backend. */
typedef struct runner {
    const exec_backend_ops *ops;
    void *model;
} runner;

/* Feeds n tokens as one step, at positions pos..; buffers their routing
 * when recording. */
static int feed(const runner *rn, watcher *wt, int request, const int32_t *tokens, int n,
                int pos, int phase, float *logits, promoe_err *err)
{
    recorder *rc = wt->rc;
    for (int i = 0; rc && i < n; i++) { /* room for the longest iteration was reserved */
        rc->request[rc->n] = request;
        rc->position[rc->n] = pos + i;
        rc->phase[rc->n] = (uint8_t)phase;
        rc->n++;
    }
    wt->request = request;
    wt->position = pos;
    if (wt->off && offload_clock_begin_step(wt->off, phase == TRACE_DECODE, err) < 0)
        return -1;
    return rn->ops->step(rn->model, tokens, n, pos, logits,
                         wt->rc || wt->off ? watch_layer : NULL, wt, err);
}

static trace_writer *open_recording(const exec_weights *w, const exec_gen_config *cfg,
                                    promoe_err *err)
{
    const model_desc *m = &w->model;
    trace_meta meta = {.num_layers = m->num_layers, .num_experts = m->num_experts,
                       .top_k = m->top_k, .hidden_dim = cfg->record_hidden ? m->hidden_size : 0,
                       .content = TRACE_WEIGHTS | TRACE_LOGITS |
                                  (cfg->record_hidden ? TRACE_HIDDEN | TRACE_ROUTER_WEIGHT : 0u),
                       .hidden_layer_stride = cfg->record_hidden};
    snprintf(meta.model, sizeof meta.model, "%s", m->name);
    snprintf(meta.source, sizeof meta.source, "%s", cfg->source ? cfg->source : "promoe exec");
    trace_writer *tw = trace_writer_create(cfg->record, &meta, err);
    if (!tw || !cfg->record_hidden)
        return tw;
    float *rw = exec_weights_routers(w);
    if (!rw) {
        trace_writer_abort(tw);
        promoe_err_set(err, "out of memory for the router weights");
        return NULL;
    }
    int rc = trace_writer_set_router_weight(tw, rw, err);
    free(rw);
    if (rc < 0) {
        trace_writer_abort(tw);
        return NULL;
    }
    return tw;
}

int exec_generate(const exec_weights *w, const exec_prompt *prompts, int n,
                  const exec_gen_config *cfg, exec_gen_result *r, promoe_err *err)
{
    memset(r, 0, sizeof *r);
    const model_desc *m = &w->model;
    int longest = 0;
    for (int i = 0; i < n; i++) {
        if (prompts[i].n < 1)
            return promoe_err_set(err, "prompt %d is empty", i);
        longest = prompts[i].n > longest ? prompts[i].n : longest;
    }
    float *logits = malloc((size_t)m->vocab_size * sizeof *logits);
    r->output = calloc((size_t)n * (size_t)cfg->max_new + 1, sizeof *r->output);
    runner rn = {.ops = cfg->backend ? cfg->backend : exec_backend_find("cpu", err)};
    rn.model = rn.ops->create(w, longest + cfg->max_new, cfg->offload.slots > 0, err);
    recorder rc = {.m = m, .record_hidden = cfg->record_hidden};
    trace_writer *tw = NULL;
    watcher wt = {0};
    int status = -1;
    if (!logits || !r->output || !rn.model) {
        if (rn.model)
            promoe_err_set(err, "out of memory");
        goto out;
    }
    if (cfg->offload.slots > 0) {
        offload_clock_config kc = {.offload = &cfg->offload, .num_layers = m->num_layers,
                                   .num_experts = m->num_experts, .top_k = m->top_k,
                                   .hidden_size = m->hidden_size, .pops = cfg->pops,
                                   .pst = cfg->pst, .log = cfg->log};
        expert_mover mv = rn.ops->mover(rn.model);
        if (!(wt.off = offload_clock_create(&kc, &mv, err)))
            goto out;
        exec_expert_source src = offload_clock_source(wt.off);
        rn.ops->set_expert_source(rn.model, &src);
    }
    if (cfg->record && !(tw = open_recording(w, cfg, err)))
        goto out;
    /* the longest iteration is the longest prompt (a decode step is one token) */
    if (tw && recorder_reserve(&rc, (size_t)longest) < 0) {
        promoe_err_set(err, "out of memory recording a trace");
        goto out;
    }
    wt.rc = tw ? &rc : NULL;
    int32_t iteration = 0;
    for (int i = 0; i < n; i++) {
        const exec_prompt *p = &prompts[i];
        double t0 = clock_now_s(), w0 = waited_s(&wt);
        /* the prompt as one step where the backend batches, else a token a step */
        int each = rn.ops->batched ? p->n : 1;
        for (int j = 0; j < p->n; j += each)
            if (feed(&rn, &wt, i, p->ids + j, each, j, TRACE_PREFILL, logits, err) < 0)
                goto out;
        int32_t *out = r->output + (size_t)i * cfg->max_new;
        out[0] = argmax(logits, m->vocab_size);
        double t1 = clock_now_s();
        r->prefill_s += t1 - t0;
        r->prefill_wait_s += waited_s(&wt) - w0;
        r->prefill_tokens += p->n;
        if (flush(&rc, tw, iteration++, err) < 0)
            goto out;
        for (int j = 1; j < cfg->max_new; j++) {
            double s0 = clock_now_s(), w1 = waited_s(&wt);
            if (feed(&rn, &wt, i, &out[j - 1], 1, p->n + j - 1, TRACE_DECODE, logits, err) < 0)
                goto out;
            out[j] = argmax(logits, m->vocab_size);
            r->decode_s += clock_now_s() - s0;
            r->decode_wait_s += waited_s(&wt) - w1;
            r->decode_tokens++;
            if (flush(&rc, tw, iteration++, err) < 0)
                goto out;
        }
        if (tw) {
            /* the trace's decode tokens: the first new token came from the prefill */
            trace_request req = {.id = i, .prompt_len = p->n, .output_len = cfg->max_new - 1};
            snprintf(req.dataset, sizeof req.dataset, "%s", cfg->dataset ? cfg->dataset : "ids");
            if (trace_writer_add_request(tw, &req, err) < 0)
                goto out;
        }
        r->requests++;
        if (cfg->progress)
            cfg->progress(i + 1, n);
    }
    if (tw) {
        trace_writer *done = tw;
        tw = NULL;
        if (trace_writer_commit(done, err) < 0)
            goto out;
    }
    r->ttft_ms_mean = n ? 1e3 * r->prefill_s / n : 0; /* a request's prefill ends at its first token */
    r->tpot_ms_mean = r->decode_tokens ? 1e3 * r->decode_s / (double)r->decode_tokens : 0;
    r->prefill_tokens_per_s = r->prefill_s > 0 ? (double)r->prefill_tokens / r->prefill_s : 0;
    r->decode_tokens_per_s = r->decode_s > 0 ? (double)r->decode_tokens / r->decode_s : 0;
    status = 0;
out:
    if (wt.off) {
        offload_clock_finish(wt.off, &r->offload);
        offload_clock_free(wt.off);
    }
    if (tw)
        trace_writer_abort(tw);
    if (rn.model)
        rn.ops->destroy(rn.model);
    recorder_free(&rc);
    free(logits);
    if (status < 0) {
        free(r->output);
        r->output = NULL;
    }
    return status;
}
