#include "exec/weights.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/memory.h"

size_t exec_expert_floats(const model_desc *m)
{
    return 3 * (size_t)m->expert_ffn_dim * (size_t)m->hidden_size;
}

static double layer_floats(const model_desc *m)
{
    double d = m->hidden_size, q = (double)m->num_heads * m->head_dim,
           kv = (double)m->num_kv_heads * m->head_dim;
    return 2 * d + q * d + 2 * kv * d + d * q + (double)m->num_experts * d +
           (double)m->num_experts * 3.0 * m->expert_ffn_dim * d +
           (double)m->num_shared_experts * 3.0 * m->shared_ffn_dim * d;
}

double exec_model_floats(const model_desc *m)
{
    double d = m->hidden_size;
    return 2 * (double)m->vocab_size * d + d + m->num_layers * layer_floats(m);
}

int exec_model_check(const model_desc *m, promoe_err *err)
{
    if (m->num_heads % m->num_kv_heads != 0)
        return promoe_err_set(err, "model %s: %d heads are not a multiple of its %d KV heads",
                              m->name, m->num_heads, m->num_kv_heads);
    if (m->head_dim % 2 != 0)
        return promoe_err_set(err, "model %s: head dim %d is odd (rotary embeddings turn pairs)",
                              m->name, m->head_dim);
    if (m->top_k > m->num_experts)
        return promoe_err_set(err, "model %s: top-%d of %d experts", m->name, m->top_k,
                              m->num_experts);
    return 0;
}

/* Takes n floats from the arena. */
static float *take(exec_weights *w, size_t *used, size_t n)
{
    float *p = w->arena + *used;
    *used += n;
    return p;
}

/* SplitMix64's finaliser: a bijection that scrambles every bit. */
static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Tensor `id` of n values, uniform with mean `mean` and standard deviation
 * sd: value i a hash of (seed, id, i), so that any thread fills any tensor
 * and the weights do not depend on how many did. */
static void fill(float *a, size_t n, unsigned long seed, uint64_t id, double mean, double sd)
{
    double half = sd * sqrt(3.0); /* U(-h, h) has variance h^2 / 3 */
    uint64_t base = mix(mix((uint64_t)seed + 0x9e3779b97f4a7c15ull) ^ (id * 0xd1b54a32d192ed03ull));
    for (size_t i = 0; i < n; i++) {
        double u = (double)(mix(base + i) >> 11) * 0x1.0p-53;
        a[i] = (float)(mean + (2 * u - 1) * half);
    }
}

/* A matrix of `in` inputs: variance 1/in, so activations keep their scale. */
static void fill_matrix(float *a, size_t rows, size_t in, unsigned long seed, uint64_t id)
{
    fill(a, rows * in, seed, id, 0, 1.0 / sqrt((double)in));
}

static void fill_norm(float *a, size_t n, unsigned long seed, uint64_t id)
{
    fill(a, n, seed, id, 1, 0.1);
}

int exec_weights_alloc(const model_desc *m, exec_weights *w, promoe_err *err)
{
    memset(w, 0, sizeof *w);
    if (exec_model_check(m, err) < 0)
        return -1;
    double floats = exec_model_floats(m);
    char what[160];
    snprintf(what, sizeof what, "the fp32 weights of %s", m->name);
    if (memory_check(floats * sizeof(float), what, err) < 0)
        return -1;
    w->model = *m;
    w->floats = (size_t)floats;
    w->arena = malloc(w->floats * sizeof(float));
    w->layers = calloc((size_t)m->num_layers, sizeof *w->layers);
    if (!w->arena || !w->layers) {
        exec_weights_free(w);
        return promoe_err_set(err, "out of memory for %s's weights", m->name);
    }
    size_t d = (size_t)m->hidden_size, V = (size_t)m->vocab_size;
    size_t q = (size_t)m->num_heads * m->head_dim, kv = (size_t)m->num_kv_heads * m->head_dim;
    size_t E = (size_t)m->num_experts, F = (size_t)m->expert_ffn_dim;
    size_t S = (size_t)m->num_shared_experts, Fs = (size_t)m->shared_ffn_dim;
    size_t used = 0;
    w->embed = take(w, &used, V * d);
    for (int l = 0; l < m->num_layers; l++) {
        exec_layer_weights *y = &w->layers[l];
        y->attn_norm = take(w, &used, d);
        y->wq = take(w, &used, q * d);
        y->wk = take(w, &used, kv * d);
        y->wv = take(w, &used, kv * d);
        y->wo = take(w, &used, d * q);
        y->ffn_norm = take(w, &used, d);
        y->router = take(w, &used, E * d);
        y->experts = take(w, &used, E * 3 * F * d);
        y->shared = take(w, &used, S * 3 * Fs * d);
    }
    w->final_norm = take(w, &used, d);
    w->lm_head = take(w, &used, V * d);
    return 0;
}

/* One thread's share of the synthetic weights: layers first, .. last. */
typedef struct fill_job {
    exec_weights *w;
    unsigned long seed;
    int first, step;   /* layers first, first + step, ...; layer L is the rest */
} fill_job;

static void fill_layer(exec_weights *w, unsigned long seed, int l)
{
    const model_desc *m = &w->model;
    size_t d = (size_t)m->hidden_size;
    size_t q = (size_t)m->num_heads * m->head_dim, kv = (size_t)m->num_kv_heads * m->head_dim;
    size_t E = (size_t)m->num_experts, F = (size_t)m->expert_ffn_dim;
    size_t S = (size_t)m->num_shared_experts, Fs = (size_t)m->shared_ffn_dim;
    exec_layer_weights *y = &w->layers[l];
    uint64_t id = ((uint64_t)l + 1) << 32; /* tensor ids: layer, then a count */
    fill_norm(y->attn_norm, d, seed, id++);
    fill_matrix(y->wq, q, d, seed, id++);
    fill_matrix(y->wk, kv, d, seed, id++);
    fill_matrix(y->wv, kv, d, seed, id++);
    fill_matrix(y->wo, d, q, seed, id++);
    fill_norm(y->ffn_norm, d, seed, id++);
    fill_matrix(y->router, E, d, seed, id++);
    for (size_t e = 0; e < E; e++) {
        float *b = y->experts + e * 3 * F * d;
        fill_matrix(b, F, d, seed, id++);             /* gate */
        fill_matrix(b + F * d, F, d, seed, id++);     /* up */
        fill_matrix(b + 2 * F * d, d, F, seed, id++); /* down */
    }
    for (size_t s = 0; s < S; s++) {
        float *b = y->shared + s * 3 * Fs * d;
        fill_matrix(b, Fs, d, seed, id++);
        fill_matrix(b + Fs * d, Fs, d, seed, id++);
        fill_matrix(b + 2 * Fs * d, d, Fs, seed, id++);
    }
}

static void *fill_share(void *arg)
{
    fill_job *j = arg;
    const model_desc *m = &j->w->model;
    size_t d = (size_t)m->hidden_size, V = (size_t)m->vocab_size;
    for (int l = j->first; l <= m->num_layers; l += j->step) {
        if (l < m->num_layers) {
            fill_layer(j->w, j->seed, l);
            continue;
        }
        fill(j->w->embed, V * d, j->seed, 1, 0, 1); /* embeddings: unit variance */
        fill_norm(j->w->final_norm, d, j->seed, 2);
        fill_matrix(j->w->lm_head, V, d, j->seed, 3);
    }
    return NULL;
}

int exec_weights_synthetic(const model_desc *m, unsigned long seed, exec_weights *w,
                           promoe_err *err)
{
    if (exec_weights_alloc(m, w, err) < 0)
        return -1;
    /* a thread per share of the layers: Mixtral-sized weights are tens of
     * GB of values; a thread that cannot start leaves its share to this one */
    enum { MAX_THREADS = 64 };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : cpus);
    if (n > m->num_layers + 1)
        n = m->num_layers + 1;
    fill_job jobs[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int i = 0; i < n; i++) {
        jobs[i] = (fill_job){w, seed, i, n};
        started[i] = i > 0 && pthread_create(&threads[i], NULL, fill_share, &jobs[i]) == 0;
    }
    for (int i = 0; i < n; i++)
        if (!started[i])
            fill_share(&jobs[i]);
    for (int i = 1; i < n; i++)
        if (started[i])
            pthread_join(threads[i], NULL);
    return 0;
}

int exec_weights_add_extras(exec_weights *w, unsigned which, int qk_norm_width, promoe_err *err)
{
    const model_desc *m = &w->model;
    size_t q = (size_t)m->num_heads * m->head_dim, kv = (size_t)m->num_kv_heads * m->head_dim;
    size_t d = (size_t)m->hidden_size;
    if ((which & EXEC_QK_NORM) && qk_norm_width != m->head_dim && (size_t)qk_norm_width != q)
        return promoe_err_set(err, "a query norm of %d floats is neither per head (%d) nor over "
                              "the projection (%zu)", qk_norm_width, m->head_dim, q);
    if ((which & EXEC_SHARED_GATE) && m->num_shared_experts != 1)
        return promoe_err_set(err, "a shared-expert gate needs one shared expert, %s has %d",
                              m->name, m->num_shared_experts);
    size_t kn = (size_t)qk_norm_width == q ? kv : (size_t)m->head_dim;
    size_t per = ((which & EXEC_QK_NORM) ? (size_t)qk_norm_width + kn : 0) +
                 ((which & EXEC_QKV_BIAS) ? q + 2 * kv : 0) +
                 ((which & EXEC_SHARED_GATE) ? d : 0);
    free(w->extras);
    w->extras = malloc((per ? per : 1) * (size_t)m->num_layers * sizeof(float));
    if (!w->extras)
        return promoe_err_set(err, "out of memory");
    w->qk_norm_width = (which & EXEC_QK_NORM) ? qk_norm_width : 0;
    float *p = w->extras;
    for (int l = 0; l < m->num_layers; l++) {
        exec_layer_weights *y = &w->layers[l];
        y->q_norm = y->k_norm = y->bq = y->bk = y->bv = y->shared_gate = NULL;
        if (which & EXEC_QK_NORM) {
            y->q_norm = p;
            y->k_norm = p + qk_norm_width;
            p += (size_t)qk_norm_width + kn;
        }
        if (which & EXEC_QKV_BIAS) {
            y->bq = p;
            y->bk = p + q;
            y->bv = p + q + kv;
            p += q + 2 * kv;
        }
        if (which & EXEC_SHARED_GATE) {
            y->shared_gate = p;
            p += d;
        }
    }
    return 0;
}

void exec_weights_free(exec_weights *w)
{
    free(w->extras);
    free(w->arena);
    free(w->layers);
    memset(w, 0, sizeof *w);
}

float *exec_weights_routers(const exec_weights *w)
{
    const model_desc *m = &w->model;
    size_t L = (size_t)m->num_layers, E = (size_t)m->num_experts, D = (size_t)m->hidden_size;
    float *rw = malloc(L * E * D * sizeof *rw);
    for (size_t l = 0; rw && l < L; l++)
        memcpy(rw + l * E * D, w->layers[l].router, E * D * sizeof *rw);
    return rw;
}
