#include "exec/cpu_model.h"

#include <gsl/gsl_cblas.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/topk.h"

struct exec_cpu_model {
    const exec_weights *w;
    int max_positions;
    float *k_cache, *v_cache; /* [L][max_positions][KV * hd] */
    /* scratch */
    float *x, *xn, *q, *k, *v, *att, *scores, *layer_in, *gate, *up, *router;
    double *router_d;
    int *experts, *pick;
    float *gate_w;
    float *expert_out;        /* [K][d]: each routed expert's output */
    int *pending;
    exec_expert_source source; /* by default the weights themselves */
};

static const void *resident_block(void *ctx, int layer, int expert, promoe_err *err);

void exec_cpu_set_expert_source(exec_cpu_model *m, const exec_expert_source *src)
{
    m->source = *src;
}

void exec_cpu_free(exec_cpu_model *m)
{
    if (!m)
        return;
    free(m->k_cache);
    free(m->v_cache);
    free(m->x);
    free(m->xn);
    free(m->q);
    free(m->k);
    free(m->v);
    free(m->att);
    free(m->scores);
    free(m->layer_in);
    free(m->gate);
    free(m->up);
    free(m->router);
    free(m->router_d);
    free(m->experts);
    free(m->pick);
    free(m->gate_w);
    free(m->expert_out);
    free(m->pending);
    free(m);
}

exec_cpu_model *exec_cpu_create(const exec_weights *w, int max_positions, promoe_err *err)
{
    const model_desc *md = &w->model;
    exec_cpu_model *m = calloc(1, sizeof *m);
    if (!m) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    m->w = w;
    m->max_positions = max_positions;
    m->source = (exec_expert_source){.acquire = resident_block, .ctx = m};
    size_t d = (size_t)md->hidden_size, q = (size_t)md->num_heads * md->head_dim;
    size_t kv = (size_t)md->num_kv_heads * md->head_dim, E = (size_t)md->num_experts;
    size_t F = (size_t)(md->expert_ffn_dim > md->shared_ffn_dim ? md->expert_ffn_dim
                                                                 : md->shared_ffn_dim);
    size_t cache = (size_t)md->num_layers * (size_t)max_positions * kv;
    m->k_cache = calloc(cache, sizeof(float)); /* zeros: profiling reads positions not run */
    m->v_cache = calloc(cache, sizeof(float));
    m->x = malloc(d * sizeof(float));
    m->xn = malloc(d * sizeof(float));
    m->q = malloc(q * sizeof(float));
    m->k = malloc(kv * sizeof(float));
    m->v = malloc(kv * sizeof(float));
    m->att = malloc(q * sizeof(float));
    m->scores = malloc((size_t)max_positions * sizeof(float));
    m->layer_in = malloc(d * sizeof(float));
    m->gate = malloc(F * sizeof(float));
    m->up = malloc(F * sizeof(float));
    m->router = malloc(E * sizeof(float));
    m->router_d = malloc(E * sizeof(double));
    m->experts = malloc((size_t)md->top_k * sizeof(int));
    m->pick = malloc(E * sizeof(int));
    m->gate_w = malloc((size_t)md->top_k * sizeof(float));
    m->expert_out = malloc((size_t)md->top_k * d * sizeof(float));
    m->pending = malloc((size_t)md->top_k * sizeof(int));
    if (!m->expert_out || !m->pending ||
        !m->k_cache || !m->v_cache || !m->x || !m->xn || !m->q || !m->k || !m->v || !m->att ||
        !m->scores || !m->layer_in || !m->gate || !m->up || !m->router || !m->router_d ||
        !m->experts || !m->pick || !m->gate_w) {
        exec_cpu_free(m);
        promoe_err_set(err, "out of memory for %s's KV cache of %d positions", md->name,
                       max_positions);
        return NULL;
    }
    return m;
}

void exec_rmsnorm(const float *x, const float *w, int n, double eps, float *out)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

/* Rotates pairs (i, i + hd/2) by pos * theta^(-2i/hd) (the "rotate half"
 * layout of Llama-family checkpoints). */
void exec_rope(float *v, int head_dim, int pos, double theta)
{
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        double angle = pos * pow(theta, -2.0 * i / head_dim);
        double c = cos(angle), s = sin(angle), a = v[i], b = v[i + half];
        v[i] = (float)(a * c - b * s);
        v[i + half] = (float)(a * s + b * c);
    }
}

void exec_route(const float *logits, int E, int k, int normalize, double *prob, int *pick,
                int *experts, float *weights)
{
    double mx = logits[0], sum = 0, chosen = 0;
    for (int e = 1; e < E; e++)
        mx = logits[e] > mx ? logits[e] : mx;
    for (int e = 0; e < E; e++)
        sum += prob[e] = exp(logits[e] - mx);
    topk_select(prob, E, k, pick);
    for (int j = 0; j < k; j++)
        chosen += prob[pick[j]];
    for (int j = 0; j < k; j++) {
        experts[j] = pick[j];
        weights[j] = (float)(prob[pick[j]] / (normalize ? chosen : sum));
    }
}

/* out += weight * down(silu(gate x) * up x) for one SwiGLU block of
 * width F (gate [F][d], up [F][d], down [d][F], contiguous). */
static void swiglu_add(exec_cpu_model *m, const float *block, int F, int d, const float *x,
                       float weight, float *out)
{
    const float *g = block, *u = block + (size_t)F * d, *dn = block + 2 * (size_t)F * d;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, F, d, 1.0f, g, d, x, 1, 0.0f, m->gate, 1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, F, d, 1.0f, u, d, x, 1, 0.0f, m->up, 1);
    for (int i = 0; i < F; i++) {
        float a = m->gate[i];
        m->gate[i] = a / (1.0f + expf(-a)) * m->up[i];
    }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, d, F, weight, dn, F, m->gate, 1, 1.0f, out, 1);
}

/* The default expert source: every expert resident in the weights. */
static const void *resident_block(void *ctx, int layer, int expert, promoe_err *err)
{
    (void)err;
    exec_cpu_model *m = ctx;
    return m->w->layers[layer].experts + (size_t)expert * exec_expert_floats(&m->w->model);
}

/* Expert `rank` of the running layer, into its row of expert_out. */
static int compute_expert(void *ctx, const void *block, int rank, promoe_err *err)
{
    (void)err;
    exec_cpu_model *m = ctx;
    const model_desc *md = &m->w->model;
    float *out = m->expert_out + (size_t)rank * md->hidden_size;
    memset(out, 0, (size_t)md->hidden_size * sizeof(float));
    swiglu_add(m, block, md->expert_ffn_dim, md->hidden_size, m->xn, m->gate_w[rank], out);
    return 0;
}

/* The layer's routed experts, in the source's order, each into its row
 * of expert_out; then their sum, in rank order, into the residual. */
static int run_experts(exec_cpu_model *m, int l, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    int d = md->hidden_size, K = md->top_k;
    if (exec_run_experts(&m->source, l, m->experts, K, m->pending, compute_expert, m, err) < 0)
        return -1;
    for (int j = 0; j < K; j++)
        cblas_saxpy(d, 1.0f, m->expert_out + (size_t)j * d, 1, m->x, 1);
    return 0;
}

/* x += scale * the shared experts of xn (gated, when the layer has a
 * gate, by sigmoid(gate . xn)). */
static void shared_experts(exec_cpu_model *m, const exec_layer_weights *y, float scale)
{
    const model_desc *md = &m->w->model;
    int d = md->hidden_size;
    if (y->shared_gate)
        scale /= 1.0f + expf(-cblas_sdot(d, y->shared_gate, 1, m->xn, 1));
    for (int s = 0; s < md->num_shared_experts; s++)
        swiglu_add(m, y->shared + (size_t)s * 3 * md->shared_ffn_dim * d, md->shared_ffn_dim, d,
                   m->xn, scale, m->x);
}

static void attention(exec_cpu_model *m, int l, int pos)
{
    const model_desc *md = &m->w->model;
    const exec_layer_weights *y = &m->w->layers[l];
    int d = md->hidden_size, H = md->num_heads, KV = md->num_kv_heads, hd = md->head_dim;
    int q_dim = H * hd, kv_dim = KV * hd;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, q_dim, d, 1.0f, y->wq, d, m->xn, 1, 0.0f, m->q, 1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, kv_dim, d, 1.0f, y->wk, d, m->xn, 1, 0.0f, m->k, 1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, kv_dim, d, 1.0f, y->wv, d, m->xn, 1, 0.0f, m->v, 1);
    if (y->bq) {
        cblas_saxpy(q_dim, 1.0f, y->bq, 1, m->q, 1);
        cblas_saxpy(kv_dim, 1.0f, y->bk, 1, m->k, 1);
        cblas_saxpy(kv_dim, 1.0f, y->bv, 1, m->v, 1);
    }
    if (y->q_norm) { /* over the whole projection, or head by head */
        int width = m->w->qk_norm_width, kw = width == hd ? hd : kv_dim;
        for (int i = 0; i < q_dim; i += width)
            exec_rmsnorm(m->q + i, y->q_norm, width, md->rms_norm_eps, m->q + i);
        for (int i = 0; i < kv_dim; i += kw)
            exec_rmsnorm(m->k + i, y->k_norm, kw, md->rms_norm_eps, m->k + i);
    }
    for (int h = 0; h < H; h++)
        exec_rope(m->q + (size_t)h * hd, hd, pos, md->rope_theta);
    for (int h = 0; h < KV; h++)
        exec_rope(m->k + (size_t)h * hd, hd, pos, md->rope_theta);
    float *kc = m->k_cache + ((size_t)l * m->max_positions) * kv_dim;
    float *vc = m->v_cache + ((size_t)l * m->max_positions) * kv_dim;
    memcpy(kc + (size_t)pos * kv_dim, m->k, (size_t)kv_dim * sizeof(float));
    memcpy(vc + (size_t)pos * kv_dim, m->v, (size_t)kv_dim * sizeof(float));
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < H; h++) {
        int g = h / (H / KV); /* the KV head this query head shares */
        const float *qh = m->q + (size_t)h * hd;
        float mx = -INFINITY;
        for (int t = 0; t <= pos; t++) {
            float s = cblas_sdot(hd, qh, 1, kc + (size_t)t * kv_dim + (size_t)g * hd, 1) * scale;
            m->scores[t] = s;
            mx = s > mx ? s : mx;
        }
        double sum = 0;
        for (int t = 0; t <= pos; t++)
            sum += m->scores[t] = expf(m->scores[t] - mx);
        float *out = m->att + (size_t)h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int t = 0; t <= pos; t++)
            cblas_saxpy(hd, (float)(m->scores[t] / sum), vc + (size_t)t * kv_dim + (size_t)g * hd,
                        1, out, 1);
    }
    /* x += wo att */
    cblas_sgemv(CblasRowMajor, CblasNoTrans, d, q_dim, 1.0f, y->wo, q_dim, m->att, 1, 1.0f, m->x,
                1);
}

int exec_cpu_step(exec_cpu_model *m, int token, int pos, float *logits, exec_route_fn observe,
                  void *ctx, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    int d = md->hidden_size, E = md->num_experts, K = md->top_k;
    if (token < 0 || token >= md->vocab_size)
        return promoe_err_set(err, "token id %d outside the vocabulary [0, %d)", token,
                              md->vocab_size);
    if (pos < 0 || pos >= m->max_positions)
        return promoe_err_set(err, "position %d beyond the KV cache's %d", pos, m->max_positions);
    memcpy(m->x, m->w->embed + (size_t)token * d, (size_t)d * sizeof(float));
    for (int l = 0; l < md->num_layers; l++) {
        const exec_layer_weights *y = &m->w->layers[l];
        exec_rmsnorm(m->x, y->attn_norm, d, md->rms_norm_eps, m->xn);
        if (observe)
            memcpy(m->layer_in, m->x, (size_t)d * sizeof(float)); /* kept for observe */
        attention(m, l, pos);
        exec_rmsnorm(m->x, y->ffn_norm, d, md->rms_norm_eps, m->xn);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, E, d, 1.0f, y->router, d, m->xn, 1, 0.0f,
                    m->router, 1);
        exec_route(m->router, E, K, md->norm_topk_prob, m->router_d, m->pick, m->experts,
                   m->gate_w);
        if (observe) {
            exec_routing r = {.layer = l, .hidden = m->layer_in, .logits = m->router,
                              .experts = m->experts, .weights = m->gate_w};
            if (observe(ctx, &r, err) < 0)
                return -1;
        }
        if (run_experts(m, l, err) < 0)
            return -1;
        shared_experts(m, y, 1.0f);
    }
    exec_rmsnorm(m->x, m->w->final_norm, d, md->rms_norm_eps, m->xn);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, md->vocab_size, d, 1.0f, m->w->lm_head, d, m->xn, 1,
                0.0f, logits, 1);
    return 0;
}

/* The median time of `reps` runs of one of the operations below. */
enum timed_op { TIME_ATTENTION, TIME_ROUTER, TIME_EXPERT, TIME_SHARED };

static double time_op(exec_cpu_model *m, enum timed_op op, int context, int reps, double *runs)
{
    const model_desc *md = &m->w->model;
    int d = md->hidden_size, L = md->num_layers, E = md->num_experts;
    memcpy(m->x, m->w->embed, (size_t)d * sizeof(float));
    for (int r = 0; r < reps; r++) {
        /* a different layer (and expert) each run, as a real step reads
         * weights that are not in the CPU's caches */
        const exec_layer_weights *y = &m->w->layers[r % L];
        double t0 = clock_now_s();
        switch (op) {
        case TIME_ATTENTION:
            exec_rmsnorm(m->x, y->attn_norm, d, md->rms_norm_eps, m->xn);
            attention(m, r % L, context);
            break;
        case TIME_ROUTER:
            exec_rmsnorm(m->x, y->ffn_norm, d, md->rms_norm_eps, m->xn);
            cblas_sgemv(CblasRowMajor, CblasNoTrans, E, d, 1.0f, y->router, d, m->xn, 1, 0.0f,
                        m->router, 1);
            exec_route(m->router, E, md->top_k, md->norm_topk_prob, m->router_d, m->pick,
                       m->experts, m->gate_w);
            break;
        case TIME_EXPERT:
            swiglu_add(m, y->experts + (size_t)(r / L % E) * exec_expert_floats(md),
                       md->expert_ffn_dim, d, m->xn, 1e-3f, m->x);
            break;
        case TIME_SHARED:
            shared_experts(m, y, 1e-3f);
            break;
        }
        runs[r] = clock_now_s() - t0;
    }
    gsl_sort(runs, 1, (size_t)reps);
    return gsl_stats_median_from_sorted_data(runs, 1, (size_t)reps);
}

int exec_cpu_time_ops(exec_cpu_model *m, int context, int reps, exec_op_times *t,
                      promoe_err *err)
{
    if (context < 0 || context >= m->max_positions)
        return promoe_err_set(err, "context %d beyond the KV cache's %d positions", context,
                              m->max_positions);
    double *runs = malloc((size_t)(reps > 0 ? reps : 1) * sizeof *runs);
    if (!runs)
        return promoe_err_set(err, "out of memory");
    reps = reps > 0 ? reps : 1;
    exec_rmsnorm(m->w->embed, m->w->layers[0].ffn_norm, m->w->model.hidden_size,
                 m->w->model.rms_norm_eps, m->xn);
    t->attention_s = time_op(m, TIME_ATTENTION, context, reps, runs);
    t->router_s = time_op(m, TIME_ROUTER, context, reps, runs);
    t->expert_s = time_op(m, TIME_EXPERT, context, reps, runs);
    t->shared_s = m->w->model.num_shared_experts ? time_op(m, TIME_SHARED, context, reps, runs)
                                                 : 0;
    free(runs);
    return 0;
}

/* The backend's table. */
static void *cpu_create(const exec_weights *w, int max_positions, int offload, promoe_err *err)
{
    (void)offload; /* host memory holds every expert either way */
    return exec_cpu_create(w, max_positions, err);
}

static void cpu_destroy(void *m) { exec_cpu_free(m); }

static int cpu_step(void *m, int token, int pos, float *logits, exec_route_fn observe, void *ctx,
                    promoe_err *err)
{
    return exec_cpu_step(m, token, pos, logits, observe, ctx, err);
}

static void cpu_set_source(void *m, const exec_expert_source *src)
{
    exec_cpu_set_expert_source(m, src);
}

static expert_mover cpu_mover(void *m) { return expert_mover_cpu(((exec_cpu_model *)m)->w); }

static int cpu_time_ops(void *m, int context, int reps, exec_op_times *t, promoe_err *err)
{
    return exec_cpu_time_ops(m, context, reps, t, err);
}

static void cpu_describe(void *m, char *buf, size_t len)
{
    (void)m;
    snprintf(buf, len, "cpu (%ld online processors, fp32 OpenBLAS)",
             sysconf(_SC_NPROCESSORS_ONLN));
}

const exec_backend_ops exec_backend_cpu = {
    .name = "cpu",
    .summary = "fp32 on the CPU (OpenBLAS); host memory stands in for the GPU's",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .step = cpu_step,
    .set_expert_source = cpu_set_source,
    .mover = cpu_mover,
    .time_ops = cpu_time_ops,
    .describe = cpu_describe,
};
