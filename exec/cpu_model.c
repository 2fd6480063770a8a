#include "exec/cpu_model.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/blas.h"
#include "common/clock.h"
#include "models/route.h"

struct exec_cpu_model {
    const exec_weights *w;
    int max_positions;
    float *k_cache, *v_cache; /* [L][max_positions][KV * hd] */
    /* scratch for a step of up to max_positions tokens, a row each */
    float *x, *xn, *q, *k, *v, *att, *scores, *layer_in, *gate, *up, *router;
    float *rows, *rows_out;   /* [n][d]: an expert's tokens gathered, and its output */
    double *router_d;
    int *experts, *pick;      /* [n][K] the routing; [E] scratch */
    float *gate_w;            /* [n][K] */
    float *expert_out;        /* [n][K][d]: each routed expert's output, by rank */
    int *distinct, n_distinct; /* the step's experts of the layer, first chosen first */
    int *pending;             /* [E] */
    int tokens;               /* in the step running */
    exec_expert_source source; /* by default the weights themselves */
};

static const void *resident_block(void *ctx, int layer, int expert, promoe_err *err);

static const blas_ops *blas; /* opened by the first model created */

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
    free(m->rows);
    free(m->rows_out);
    free(m->distinct);
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
    if (!(blas = blas_open(err)))
        return NULL;
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
    size_t n = (size_t)max_positions, K = (size_t)md->top_k;
    m->x = malloc(n * d * sizeof(float));
    m->xn = malloc(n * d * sizeof(float));
    m->q = malloc(n * q * sizeof(float));
    m->k = malloc(n * kv * sizeof(float));
    m->v = malloc(n * kv * sizeof(float));
    m->att = malloc(n * q * sizeof(float));
    m->scores = malloc(n * sizeof(float));
    m->layer_in = malloc(n * d * sizeof(float));
    m->gate = malloc(n * F * sizeof(float));
    m->up = malloc(n * F * sizeof(float));
    m->rows = malloc(n * d * sizeof(float));
    m->rows_out = malloc(n * d * sizeof(float));
    m->router = malloc(n * E * sizeof(float));
    m->router_d = malloc(E * sizeof(double));
    m->experts = malloc(n * K * sizeof(int));
    m->pick = malloc(E * sizeof(int));
    m->gate_w = malloc(n * K * sizeof(float));
    m->expert_out = malloc(n * K * d * sizeof(float));
    m->distinct = malloc(E * sizeof(int));
    m->pending = malloc(E * sizeof(int));
    if (!m->expert_out || !m->pending || !m->rows || !m->rows_out || !m->distinct ||
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

/* Y = down(silu(gate X) * up X) for the n rows of X ([n][d]) through one
 * SwiGLU block of width F (gate [F][d], up [F][d], down [d][F],
 * contiguous): a step's tokens as one GEMM each. */
static void swiglu_rows(exec_cpu_model *m, const float *block, int F, int d, const float *X,
                        int n, float *Y)
{
    const float *g = block, *u = block + (size_t)F * d, *dn = block + 2 * (size_t)F * d;
    blas->sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, F, d, 1.0f, X, d, g, d, 0.0f,
                m->gate, F);
    blas->sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, F, d, 1.0f, X, d, u, d, 0.0f,
                m->up, F);
    for (size_t i = 0; i < (size_t)n * F; i++) {
        float a = m->gate[i];
        m->gate[i] = a / (1.0f + expf(-a)) * m->up[i];
    }
    blas->sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, d, F, 1.0f, m->gate, F, dn, F, 0.0f,
                Y, d);
}

/* Y = X W^T for the n rows of X ([n][cols]) and W [rows][cols]. */
static void project(const float *W, int rows, int cols, const float *X, int n, float *Y)
{
    blas->sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, cols, 1.0f, X, cols, W, cols,
                0.0f, Y, rows);
}

/* The default expert source: every expert resident in the weights. */
static const void *resident_block(void *ctx, int layer, int expert, promoe_err *err)
{
    (void)err;
    exec_cpu_model *m = ctx;
    return m->w->layers[layer].experts + (size_t)expert * exec_expert_floats(&m->w->model);
}

/* The j-th distinct expert of the running layer on the step's tokens that
 * chose it, as one GEMM each: its output, times the token's gate weight,
 * into the (token, rank) rows of expert_out. */
static int compute_expert(void *ctx, const void *block, int j, promoe_err *err)
{
    (void)err;
    exec_cpu_model *m = ctx;
    const model_desc *md = &m->w->model;
    int d = md->hidden_size, K = md->top_k, e = m->distinct[j], n = 0;
    for (int i = 0; i < m->tokens * K; i++)
        if (m->experts[i] == e)
            memcpy(m->rows + (size_t)n++ * d, m->xn + (size_t)(i / K) * d, (size_t)d * sizeof(float));
    swiglu_rows(m, block, md->expert_ffn_dim, d, m->rows, n, m->rows_out);
    n = 0;
    for (int i = 0; i < m->tokens * K; i++)
        if (m->experts[i] == e) {
            float *out = m->expert_out + (size_t)i * d;
            const float *y = m->rows_out + (size_t)n++ * d;
            for (int c = 0; c < d; c++)
                out[c] = m->gate_w[i] * y[c];
        }
    return 0;
}

/* The layer's routed experts (each distinct one once, in the source's
 * order), then each token's outputs summed in rank order into the
 * residual, so the order they ran in changes no result. */
static int run_experts(exec_cpu_model *m, int l, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    int d = md->hidden_size, K = md->top_k;
    m->n_distinct = 0;
    for (int i = 0; i < m->tokens * K; i++) {
        int j = 0;
        while (j < m->n_distinct && m->distinct[j] != m->experts[i])
            j++;
        if (j == m->n_distinct)
            m->distinct[m->n_distinct++] = m->experts[i];
    }
    if (exec_run_experts(&m->source, l, m->distinct, m->n_distinct, m->pending, compute_expert,
                         m, err) < 0)
        return -1;
    for (int i = 0; i < m->tokens * K; i++)
        blas->saxpy(d, 1.0f, m->expert_out + (size_t)i * d, 1, m->x + (size_t)(i / K) * d, 1);
    return 0;
}

/* x += scale * the shared experts of xn, for the step's tokens (gated,
 * when the layer has a gate, by sigmoid(gate . xn) per token). */
static void shared_experts(exec_cpu_model *m, const exec_layer_weights *y, float scale)
{
    const model_desc *md = &m->w->model;
    int d = md->hidden_size, n = m->tokens;
    for (int s = 0; s < md->num_shared_experts; s++) {
        swiglu_rows(m, y->shared + (size_t)s * 3 * md->shared_ffn_dim * d, md->shared_ffn_dim,
                    d, m->xn, n, m->rows_out);
        for (int t = 0; t < n; t++) {
            const float *xn = m->xn + (size_t)t * d;
            float g = y->shared_gate ? scale / (1.0f + expf(-blas->sdot(d, y->shared_gate, 1, xn, 1)))
                                     : scale;
            blas->saxpy(d, g, m->rows_out + (size_t)t * d, 1, m->x + (size_t)t * d, 1);
        }
    }
}

/* Attention for the step's tokens at positions pos.. pos + n - 1: their
 * keys and values join the cache, then each attends to the positions up
 * to its own. */
static void attention(exec_cpu_model *m, int l, int pos)
{
    const model_desc *md = &m->w->model;
    const exec_layer_weights *y = &m->w->layers[l];
    int d = md->hidden_size, H = md->num_heads, KV = md->num_kv_heads, hd = md->head_dim;
    int q_dim = H * hd, kv_dim = KV * hd, n = m->tokens;
    project(y->wq, q_dim, d, m->xn, n, m->q);
    project(y->wk, kv_dim, d, m->xn, n, m->k);
    project(y->wv, kv_dim, d, m->xn, n, m->v);
    float *kc = m->k_cache + ((size_t)l * m->max_positions) * kv_dim;
    float *vc = m->v_cache + ((size_t)l * m->max_positions) * kv_dim;
    for (int t = 0; t < n; t++) {
        float *q = m->q + (size_t)t * q_dim, *k = m->k + (size_t)t * kv_dim;
        float *v = m->v + (size_t)t * kv_dim;
        if (y->bq) {
            blas->saxpy(q_dim, 1.0f, y->bq, 1, q, 1);
            blas->saxpy(kv_dim, 1.0f, y->bk, 1, k, 1);
            blas->saxpy(kv_dim, 1.0f, y->bv, 1, v, 1);
        }
        if (y->q_norm) { /* over the whole projection, or head by head */
            int width = m->w->qk_norm_width, kw = width == hd ? hd : kv_dim;
            for (int i = 0; i < q_dim; i += width)
                exec_rmsnorm(q + i, y->q_norm, width, md->rms_norm_eps, q + i);
            for (int i = 0; i < kv_dim; i += kw)
                exec_rmsnorm(k + i, y->k_norm, kw, md->rms_norm_eps, k + i);
        }
        for (int h = 0; h < H; h++)
            exec_rope(q + (size_t)h * hd, hd, pos + t, md->rope_theta);
        for (int h = 0; h < KV; h++)
            exec_rope(k + (size_t)h * hd, hd, pos + t, md->rope_theta);
        memcpy(kc + (size_t)(pos + t) * kv_dim, k, (size_t)kv_dim * sizeof(float));
        memcpy(vc + (size_t)(pos + t) * kv_dim, v, (size_t)kv_dim * sizeof(float));
    }
    float scale = 1.0f / sqrtf((float)hd);
    for (int t = 0; t < n; t++) {
        int last = pos + t;
        for (int h = 0; h < H; h++) {
            int g = h / (H / KV); /* the KV head this query head shares */
            const float *qh = m->q + (size_t)t * q_dim + (size_t)h * hd;
            float mx = -INFINITY;
            for (int s = 0; s <= last; s++) {
                float v = blas->sdot(hd, qh, 1, kc + (size_t)s * kv_dim + (size_t)g * hd, 1) * scale;
                m->scores[s] = v;
                mx = v > mx ? v : mx;
            }
            double sum = 0;
            for (int s = 0; s <= last; s++)
                sum += m->scores[s] = expf(m->scores[s] - mx);
            float *out = m->att + (size_t)t * q_dim + (size_t)h * hd;
            memset(out, 0, (size_t)hd * sizeof(float));
            for (int s = 0; s <= last; s++)
                blas->saxpy(hd, (float)(m->scores[s] / sum),
                            vc + (size_t)s * kv_dim + (size_t)g * hd, 1, out, 1);
        }
    }
    /* x += att wo^T */
    blas->sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, d, q_dim, 1.0f, m->att, q_dim, y->wo,
                q_dim, 1.0f, m->x, d);
}

int exec_cpu_step(exec_cpu_model *m, const int32_t *tokens, int n, int pos, float *logits,
                  exec_route_fn observe, void *ctx, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    int d = md->hidden_size, E = md->num_experts, K = md->top_k;
    if (n < 1 || pos < 0 || pos + n > m->max_positions)
        return promoe_err_set(err, "positions %d to %d beyond the KV cache's %d", pos,
                              pos + n - 1, m->max_positions);
    for (int t = 0; t < n; t++) {
        if (tokens[t] < 0 || tokens[t] >= md->vocab_size)
            return promoe_err_set(err, "token id %d outside the vocabulary [0, %d)", tokens[t],
                                  md->vocab_size);
        memcpy(m->x + (size_t)t * d, m->w->embed + (size_t)tokens[t] * d,
               (size_t)d * sizeof(float));
    }
    m->tokens = n;
    for (int l = 0; l < md->num_layers; l++) {
        const exec_layer_weights *y = &m->w->layers[l];
        for (int t = 0; t < n; t++)
            exec_rmsnorm(m->x + (size_t)t * d, y->attn_norm, d, md->rms_norm_eps,
                         m->xn + (size_t)t * d);
        if (observe) /* kept for observe */
            memcpy(m->layer_in, m->x, (size_t)n * d * sizeof(float));
        attention(m, l, pos);
        for (int t = 0; t < n; t++)
            exec_rmsnorm(m->x + (size_t)t * d, y->ffn_norm, d, md->rms_norm_eps,
                         m->xn + (size_t)t * d);
        project(y->router, E, d, m->xn, n, m->router);
        for (int t = 0; t < n; t++)
            model_route(m->router + (size_t)t * E, E, K, md->norm_topk_prob, m->router_d, m->pick,
                       m->experts + (size_t)t * K, m->gate_w + (size_t)t * K);
        if (observe) {
            exec_routing r = {.layer = l, .tokens = n, .hidden = m->layer_in,
                              .logits = m->router, .experts = m->experts, .weights = m->gate_w};
            if (observe(ctx, &r, err) < 0)
                return -1;
        }
        if (run_experts(m, l, err) < 0)
            return -1;
        shared_experts(m, y, 1.0f);
    }
    const float *last = m->x + (size_t)(n - 1) * d;
    exec_rmsnorm(last, m->w->final_norm, d, md->rms_norm_eps, m->xn);
    blas->sgemv(CblasRowMajor, CblasNoTrans, md->vocab_size, d, 1.0f, m->w->lm_head, d, m->xn, 1,
                0.0f, logits, 1);
    return 0;
}

/* The median time of `reps` runs of one of the operations below. */
enum timed_op { TIME_ATTENTION, TIME_ROUTER, TIME_EXPERT, TIME_SHARED };

static double time_op(exec_cpu_model *m, enum timed_op op, int context, int reps, double *runs)
{
    const model_desc *md = &m->w->model;
    int d = md->hidden_size, L = md->num_layers, E = md->num_experts;
    for (int t = 0; t < m->tokens; t++)
        memcpy(m->x + (size_t)t * d, m->w->embed, (size_t)d * sizeof(float));
    for (int r = 0; r < reps; r++) {
        /* a different layer (and expert) each run, as a real step reads
         * weights that are not in the CPU's caches */
        const exec_layer_weights *y = &m->w->layers[r % L];
        double t0 = clock_now_s();
        switch (op) {
        case TIME_ATTENTION:
            for (int t = 0; t < m->tokens; t++)
                exec_rmsnorm(m->x + (size_t)t * d, y->attn_norm, d, md->rms_norm_eps,
                             m->xn + (size_t)t * d);
            attention(m, r % L, context);
            break;
        case TIME_ROUTER:
            for (int t = 0; t < m->tokens; t++)
                exec_rmsnorm(m->x + (size_t)t * d, y->ffn_norm, d, md->rms_norm_eps,
                             m->xn + (size_t)t * d);
            project(y->router, E, d, m->xn, m->tokens, m->router);
            for (int t = 0; t < m->tokens; t++)
                model_route(m->router + (size_t)t * E, E, md->top_k, md->norm_topk_prob,
                           m->router_d, m->pick, m->experts + (size_t)t * md->top_k,
                           m->gate_w + (size_t)t * md->top_k);
            break;
        case TIME_EXPERT:
            swiglu_rows(m, y->experts + (size_t)(r / L % E) * exec_expert_floats(md),
                        md->expert_ffn_dim, d, m->xn, m->tokens, m->rows_out);
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

int exec_cpu_time_ops(exec_cpu_model *m, int context, int tokens, int reps, exec_op_times *t,
                      promoe_err *err)
{
    if (context < 0 || tokens < 1 || context + tokens > m->max_positions)
        return promoe_err_set(err, "%d tokens after %d beyond the KV cache's %d positions",
                              tokens, context, m->max_positions);
    double *runs = malloc((size_t)(reps > 0 ? reps : 1) * sizeof *runs);
    if (!runs)
        return promoe_err_set(err, "out of memory");
    reps = reps > 0 ? reps : 1;
    int d = m->w->model.hidden_size;
    m->tokens = tokens;
    for (int i = 0; i < tokens; i++)
        exec_rmsnorm(m->w->embed, m->w->layers[0].ffn_norm, d, m->w->model.rms_norm_eps,
                     m->xn + (size_t)i * d);
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

static int cpu_step(void *m, const int32_t *tokens, int n, int pos, float *logits,
                    exec_route_fn observe, void *ctx, promoe_err *err)
{
    return exec_cpu_step(m, tokens, n, pos, logits, observe, ctx, err);
}

static void cpu_set_source(void *m, const exec_expert_source *src)
{
    exec_cpu_set_expert_source(m, src);
}

static expert_mover cpu_mover(void *m) { return expert_mover_cpu(((exec_cpu_model *)m)->w); }

static int cpu_time_ops(void *m, int context, int tokens, int reps, exec_op_times *t,
                        promoe_err *err)
{
    return exec_cpu_time_ops(m, context, tokens, reps, t, err);
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
    .batched = 1,
    .set_expert_source = cpu_set_source,
    .mover = cpu_mover,
    .time_ops = cpu_time_ops,
    .describe = cpu_describe,
};
