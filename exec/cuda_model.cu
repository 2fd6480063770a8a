// cuda_model.cu - the "cuda" backend (exec/backend.h): the MoE decoder of
// cpu_model.c on one GPU.  Weights in fp16, activations and accumulation
// in fp32 (cuBLAS GemmEx, CUBLAS_COMPUTE_32F); the residual stream, norms,
// rotary embeddings, attention and the KV cache in fp32 kernels of this
// file.  One token at a time, on a compute stream; the router's logits come
// back to the host, which chooses the experts with the CPU backend's own
// model_route and tells the observer (the offloading decides there).
//
// Resident experts (no offload) live in GPU memory and a layer's chosen
// experts run as batched GEMMs; offloaded ones live in pinned host memory
// and run one by one from the slots the expert source gives, which the
// expert store fills on a copy stream (the mover below: cudaMemcpyAsync,
// then an event it waits on).  Nothing is allocated beyond what the card
// has free.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "exec/backend.h"
#include "exec/cpu_model.h"
#include "models/route.h"
}

#define MAX_TOP_K 64
#define THREADS 256

struct layer_dev {
    float *attn_norm, *ffn_norm;
    __half *wqkv;                  // [(H + 2 KV) hd][d]: q, k and v projections stacked
    __half *wo;                    // [d][H hd]
    __half *router;                // [E][d]
    __half *experts;               // [E][block], NULL when offloaded
    __half *shared;                // [S][3 Fs d]
    float *q_norm, *k_norm, *bqkv; // optional, fp32
    float *shared_gate;            // optional, fp32 [d]
};

struct cuda_model {
    const exec_weights *w;
    int max_positions, offload;
    size_t block;                  // halves of one expert
    cudaStream_t compute, copy;
    cudaEvent_t copied, start, stop;
    cublasHandle_t blas;
    layer_dev *layers;
    __half *embed, *lm_head;
    float *final_norm;
    __half *host_experts;          // pinned [L][E][block] when offloaded
    float *k_cache, *v_cache;      // [L][P][KV hd]
    // activations
    float *x, *qkv, *scores, *gu, *out, *shared_out, *router_logits, *logits, *gate_scale;
    __half *xn16, *att16, *h16, *scratch_expert;
    const void **ptr_dev, **ptr_host; // batched GEMMs' pointer arrays, [6][K]
    float *h_router, *h_hidden;       // pinned
    // host routing scratch
    double *prob;
    int *pick, *experts, *pending;
    float *gate_w;
    exec_expert_source source;
    char device[512];
};

// ---- errors ---------------------------------------------------------------

static int cuda_fail(promoe_err *err, const char *what, cudaError_t e)
{
    return promoe_err_set(err, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

static int blas_fail(promoe_err *err, const char *what, cublasStatus_t s)
{
    return promoe_err_set(err, "cuBLAS: %s: status %d", what, (int)s);
}

#define CK(call, what)                                                                      \
    do {                                                                                    \
        cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess)                                                              \
            return cuda_fail(err, what, e_);                                                \
    } while (0)
#define CB(call, what)                                                                      \
    do {                                                                                    \
        cublasStatus_t s_ = (call);                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                    \
            return blas_fail(err, what, s_);                                                \
    } while (0)

// ---- kernels --------------------------------------------------------------

// The sum (or max) of v over the block, in every thread.
__device__ static float block_reduce(float v, bool max)
{
    __shared__ float part[32];
    for (int o = 16; o > 0; o /= 2) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = max ? fmaxf(v, u) : v + u;
    }
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
    __syncthreads();
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    float r = part[0];
    for (int i = 1; i < warps; i++)
        r = max ? fmaxf(r, part[i]) : r + part[i];
    return r;
}

__global__ static void k_embed(const __half *embed, int token, int d, float *x)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < d; i += gridDim.x * blockDim.x)
        x[i] = __half2float(embed[(size_t)token * d + i]);
}

// RMSNorm of each block's group of n values (group blockIdx.x), to out16
// and/or out32 (which may be x itself).
__global__ static void k_rmsnorm(const float *x, const float *w, int n, float eps, __half *out16,
                                 float *out32)
{
    size_t g = (size_t)blockIdx.x * n;
    float ss = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        ss += x[g + i] * x[g + i];
    ss = block_reduce(ss, false);
    float scale = 1.0f / sqrtf(ss / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = x[g + i] * scale * w[i];
        if (out16)
            out16[g + i] = __float2half(v);
        if (out32)
            out32[g + i] = v;
    }
}

__global__ static void k_add(float *y, const float *b, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        y[i] += b[i];
}

// Rotates the query and key heads at pos (pairs i, i + hd/2) and stores
// the key and value at pos in the layer's cache.
__global__ static void k_rope_store(float *q, float *k, const float *v, int H, int KV, int hd,
                                    int pos, double theta, float *kc, float *vc)
{
    int half = hd / 2, pairs = (H + KV) * half, kvd = KV * hd;
    int n = pairs > kvd ? pairs : kvd;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        if (i < pairs) {
            int head = i / half, j = i % half;
            float *vec = head < H ? q + (size_t)head * hd : k + (size_t)(head - H) * hd;
            double angle = pos * pow(theta, -2.0 * j / hd);
            double c = cos(angle), s = sin(angle), a = vec[j], b = vec[j + half];
            vec[j] = (float)(a * c - b * s);
            vec[j + half] = (float)(a * s + b * c);
            if (head >= H) {
                kc[(size_t)pos * kvd + (size_t)(head - H) * hd + j] = vec[j];
                kc[(size_t)pos * kvd + (size_t)(head - H) * hd + j + half] = vec[j + half];
            }
        }
        if (i < kvd)
            vc[(size_t)pos * kvd + i] = v[i];
    }
}

// One block per query head: softmax over positions 0..npos-1 of its KV
// head's keys, the weighted values into out16.
__global__ static void k_attention(const float *q, const float *kc, const float *vc, int H, int KV,
                                   int hd, int npos, int stride, float *scores, __half *out16)
{
    int h = blockIdx.x, g = h / (H / KV), kvd = KV * hd;
    const float *qh = q + (size_t)h * hd;
    float *sc = scores + (size_t)h * stride, scale = 1.0f / sqrtf((float)hd), mx = -INFINITY;
    for (int t = threadIdx.x; t < npos; t += blockDim.x) {
        const float *kt = kc + (size_t)t * kvd + (size_t)g * hd;
        float s = 0;
        for (int i = 0; i < hd; i++)
            s += qh[i] * kt[i];
        sc[t] = s * scale;
        mx = fmaxf(mx, sc[t]);
    }
    mx = block_reduce(mx, true);
    float sum = 0;
    for (int t = threadIdx.x; t < npos; t += blockDim.x)
        sum += sc[t] = expf(sc[t] - mx);
    sum = block_reduce(sum, false); // its barriers also publish sc
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float a = 0;
        for (int t = 0; t < npos; t++)
            a += sc[t] * vc[(size_t)t * kvd + (size_t)g * hd + i];
        out16[(size_t)h * hd + i] = __float2half(a / sum);
    }
}

// h = silu(gate) * up for `count` experts' [2F] rows of gu.
__global__ static void k_swiglu(const float *gu, int F, int count, __half *h)
{
    size_t n = (size_t)F * count;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t j = i / F, c = i % F;
        float a = gu[j * 2 * F + c], b = gu[j * 2 * F + F + c];
        h[i] = __float2half(a / (1.0f + expf(-a)) * b);
    }
}

struct gate_weights {
    float w[MAX_TOP_K];
};

// x += sum over j (in rank order) of w_j out_j.
__global__ static void k_combine(float *x, const float *out, int K, int d, gate_weights gw)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < d; i += gridDim.x * blockDim.x) {
        float acc = 0;
        for (int j = 0; j < K; j++)
            acc += gw.w[j] * out[(size_t)j * d + i];
        x[i] += acc;
    }
}

// *scale = sigmoid(gate . xn), the shared expert's gate (Qwen-MoE).
__global__ static void k_shared_gate(const float *gate, const __half *xn, int d, float *scale)
{
    float s = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x)
        s += gate[i] * __half2float(xn[i]);
    s = block_reduce(s, false);
    if (threadIdx.x == 0)
        *scale = 1.0f / (1.0f + expf(-s));
}

// x += scale * y (scale NULL: 1).
__global__ static void k_add_scaled(float *x, const float *y, int d, const float *scale)
{
    float a = scale ? *scale : 1.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < d; i += gridDim.x * blockDim.x)
        x[i] += a * y[i];
}

static unsigned grid_for(size_t n)
{
    size_t g = (n + THREADS - 1) / THREADS;
    return (unsigned)(g < 1 ? 1 : g > 4096 ? 4096 : g);
}

// ---- cuBLAS: y = W x for row-major W [rows][cols] ---------------------------

// Row-major W is column-major W^T with leading dimension cols.
static int gemv(cuda_model *m, const __half *W, int rows, int cols, const __half *x, float *y,
                float beta, promoe_err *err)
{
    float alpha = 1.0f;
    CB(cublasGemmEx(m->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, 1, cols, &alpha, W, CUDA_R_16F, cols,
                    x, CUDA_R_16F, cols, &beta, y, CUDA_R_32F, rows, CUBLAS_COMPUTE_32F,
                    CUBLAS_GEMM_DEFAULT),
       "GemmEx");
    return 0;
}

static int gemv_batched(cuda_model *m, const void *const *W, int rows, int cols,
                        const void *const *x, void *const *y, int count, promoe_err *err)
{
    float alpha = 1.0f, beta = 0.0f;
    CB(cublasGemmBatchedEx(m->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, 1, cols, &alpha, W, CUDA_R_16F,
                           cols, x, CUDA_R_16F, cols, &beta, y, CUDA_R_32F, rows, count,
                           CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
       "GemmBatchedEx");
    return 0;
}

// ---- memory ---------------------------------------------------------------

// Room on the device, refused (with what is free) rather than overcommitted.
static int dev_alloc(void **p, size_t bytes, const char *what, promoe_err *err)
{
    size_t free_b = 0, total = 0;
    CK(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo");
    if (bytes + (64u << 20) > free_b)
        return promoe_err_set(err, "%s needs %.2f GiB of GPU memory, the GPU has %.2f GiB free "
                              "(use fewer layers, a smaller --cache, or offload with --cache)",
                              what, (double)bytes / (1 << 30), (double)free_b / (1 << 30));
    CK(cudaMalloc(p, bytes ? bytes : 1), what);
    return 0;
}

// n fp32 values to fp16 on the device at dst, through a host buffer.
static int upload_half(__half *dst, const float *src, size_t n, promoe_err *err)
{
    const size_t CHUNK = (size_t)1 << 22;
    __half *tmp = (__half *)malloc((n < CHUNK ? n : CHUNK) * sizeof *tmp + 1);
    if (!tmp)
        return promoe_err_set(err, "out of memory");
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += CHUNK) {
        size_t c = n - at < CHUNK ? n - at : CHUNK;
        for (size_t i = 0; i < c; i++)
            tmp[i] = __float2half(src[at + i]);
        cudaError_t e = cudaMemcpy(dst + at, tmp, c * sizeof *tmp, cudaMemcpyHostToDevice);
        if (e != cudaSuccess)
            rc = cuda_fail(err, "copying weights to the GPU", e);
    }
    free(tmp);
    return rc;
}

static int upload_f32(float **dst, const float *src, size_t n, const char *what, promoe_err *err)
{
    if (dev_alloc((void **)dst, n * sizeof(float), what, err) < 0)
        return -1;
    CK(cudaMemcpy(*dst, src, n * sizeof(float), cudaMemcpyHostToDevice), what);
    return 0;
}

static int upload_h(__half **dst, const float *src, size_t n, const char *what, promoe_err *err)
{
    if (dev_alloc((void **)dst, n * sizeof(__half), what, err) < 0)
        return -1;
    return upload_half(*dst, src, n, err);
}

static void cuda_destroy(void *p)
{
    cuda_model *m = (cuda_model *)p;
    if (!m)
        return;
    if (m->compute)
        cudaStreamSynchronize(m->compute);
    if (m->copy)
        cudaStreamSynchronize(m->copy);
    for (int l = 0; m->layers && l < m->w->model.num_layers; l++) {
        layer_dev *y = &m->layers[l];
        cudaFree(y->attn_norm);
        cudaFree(y->ffn_norm);
        cudaFree(y->wqkv);
        cudaFree(y->wo);
        cudaFree(y->router);
        cudaFree(y->experts);
        cudaFree(y->shared);
        cudaFree(y->q_norm);
        cudaFree(y->k_norm);
        cudaFree(y->bqkv);
        cudaFree(y->shared_gate);
    }
    free(m->layers);
    void *dev[] = {m->embed, m->lm_head, m->final_norm, m->k_cache, m->v_cache, m->x, m->qkv,
                   m->scores, m->gu, m->out, m->shared_out, m->router_logits, m->logits,
                   m->gate_scale, m->xn16, m->att16, m->h16, m->scratch_expert, m->ptr_dev};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        cudaFree(dev[i]);
    cudaFreeHost(m->host_experts);
    cudaFreeHost(m->ptr_host);
    cudaFreeHost(m->h_router);
    cudaFreeHost(m->h_hidden);
    if (m->blas)
        cublasDestroy(m->blas);
    if (m->copied)
        cudaEventDestroy(m->copied);
    if (m->start)
        cudaEventDestroy(m->start);
    if (m->stop)
        cudaEventDestroy(m->stop);
    if (m->compute)
        cudaStreamDestroy(m->compute);
    if (m->copy)
        cudaStreamDestroy(m->copy);
    free(m->prob);
    free(m->pick);
    free(m->experts);
    free(m->pending);
    free(m->gate_w);
    free(m);
}

static int upload_layer(cuda_model *m, int l, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    const exec_layer_weights *y = &m->w->layers[l];
    layer_dev *g = &m->layers[l];
    size_t d = (size_t)md->hidden_size, hd = (size_t)md->head_dim;
    size_t q = (size_t)md->num_heads * hd, kv = (size_t)md->num_kv_heads * hd;
    size_t E = (size_t)md->num_experts, S = (size_t)md->num_shared_experts;
    size_t Fs = (size_t)md->shared_ffn_dim;
    if (upload_f32(&g->attn_norm, y->attn_norm, d, "a norm", err) < 0 ||
        upload_f32(&g->ffn_norm, y->ffn_norm, d, "a norm", err) < 0 ||
        dev_alloc((void **)&g->wqkv, (q + 2 * kv) * d * sizeof(__half), "attention weights",
                  err) < 0 ||
        upload_half(g->wqkv, y->wq, q * d, err) < 0 ||
        upload_half(g->wqkv + q * d, y->wk, kv * d, err) < 0 ||
        upload_half(g->wqkv + (q + kv) * d, y->wv, kv * d, err) < 0 ||
        upload_h(&g->wo, y->wo, d * q, "attention weights", err) < 0 ||
        upload_h(&g->router, y->router, E * d, "a router", err) < 0)
        return -1;
    if (S && upload_h(&g->shared, y->shared, S * 3 * Fs * d, "shared experts", err) < 0)
        return -1;
    if (!m->offload && upload_h(&g->experts, y->experts, E * m->block, "the experts", err) < 0)
        return -1;
    if (y->q_norm) {
        int qw = m->w->qk_norm_width, kw = (size_t)qw == q ? (int)kv : qw;
        if (upload_f32(&g->q_norm, y->q_norm, (size_t)qw, "a query norm", err) < 0 ||
            upload_f32(&g->k_norm, y->k_norm, (size_t)kw, "a key norm", err) < 0)
            return -1;
    }
    if (y->bq) {
        if (dev_alloc((void **)&g->bqkv, (q + 2 * kv) * sizeof(float), "attention biases",
                      err) < 0)
            return -1;
        CK(cudaMemcpy(g->bqkv, y->bq, q * sizeof(float), cudaMemcpyHostToDevice), "biases");
        CK(cudaMemcpy(g->bqkv + q, y->bk, kv * sizeof(float), cudaMemcpyHostToDevice), "biases");
        CK(cudaMemcpy(g->bqkv + q + kv, y->bv, kv * sizeof(float), cudaMemcpyHostToDevice),
           "biases");
    }
    if (y->shared_gate && upload_f32(&g->shared_gate, y->shared_gate, d, "a gate", err) < 0)
        return -1;
    return 0;
}

// The offloaded experts in pinned host memory, in the backend's fp16.
static int pin_experts(cuda_model *m, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    size_t per_layer = (size_t)md->num_experts * m->block;
    size_t n = (size_t)md->num_layers * per_layer;
    CK(cudaHostAlloc((void **)&m->host_experts, n * sizeof(__half), cudaHostAllocDefault),
       "pinning the experts' host memory");
    for (int l = 0; l < md->num_layers; l++) {
        const float *src = m->w->layers[l].experts;
        __half *dst = m->host_experts + (size_t)l * per_layer;
        for (size_t i = 0; i < per_layer; i++)
            dst[i] = __float2half(src[i]);
    }
    return 0;
}

static int setup(cuda_model *m, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
        return promoe_err_set(err, "no CUDA device: %s",
                              e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    if (md->top_k > MAX_TOP_K)
        return promoe_err_set(err, "the cuda backend runs at most top-%d, %s has top-%d",
                              MAX_TOP_K, md->name, md->top_k);
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    size_t free_b = 0, total = 0;
    CK(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo");
    snprintf(m->device, sizeof m->device,
             "cuda: %.256s (compute capability %d.%d, %.0f GiB), fp16 weights, fp32 cuBLAS "
             "accumulation", prop.name, prop.major, prop.minor, (double)total / (1 << 30));
    CK(cudaStreamCreateWithFlags(&m->compute, cudaStreamNonBlocking), "a compute stream");
    CK(cudaStreamCreateWithFlags(&m->copy, cudaStreamNonBlocking), "a copy stream");
    CK(cudaEventCreateWithFlags(&m->copied, cudaEventDisableTiming), "an event");
    CK(cudaEventCreate(&m->start), "an event");
    CK(cudaEventCreate(&m->stop), "an event");
    CB(cublasCreate(&m->blas), "cublasCreate");
    CB(cublasSetStream(m->blas, m->compute), "cublasSetStream");
    size_t d = (size_t)md->hidden_size, V = (size_t)md->vocab_size, hd = (size_t)md->head_dim;
    size_t H = (size_t)md->num_heads, KV = (size_t)md->num_kv_heads, E = (size_t)md->num_experts;
    size_t K = (size_t)md->top_k, L = (size_t)md->num_layers, P = (size_t)m->max_positions;
    size_t F = (size_t)md->expert_ffn_dim, Fs = (size_t)md->shared_ffn_dim;
    size_t Fmax = F > Fs ? F : Fs;
    m->layers = (layer_dev *)calloc(L, sizeof *m->layers);
    if (!m->layers)
        return promoe_err_set(err, "out of memory");
    if (upload_h(&m->embed, m->w->embed, V * d, "the embedding", err) < 0 ||
        upload_h(&m->lm_head, m->w->lm_head, V * d, "the output head", err) < 0 ||
        upload_f32(&m->final_norm, m->w->final_norm, d, "a norm", err) < 0)
        return -1;
    for (int l = 0; l < (int)L; l++)
        if (upload_layer(m, l, err) < 0)
            return -1;
    if (m->offload && pin_experts(m, err) < 0)
        return -1;
    size_t kv_bytes = L * P * KV * hd * sizeof(float);
    if (dev_alloc((void **)&m->k_cache, kv_bytes, "the KV cache", err) < 0 ||
        dev_alloc((void **)&m->v_cache, kv_bytes, "the KV cache", err) < 0 ||
        dev_alloc((void **)&m->x, d * sizeof(float), "activations", err) < 0 ||
        dev_alloc((void **)&m->qkv, (H + 2 * KV) * hd * sizeof(float), "activations", err) < 0 ||
        dev_alloc((void **)&m->scores, H * P * sizeof(float), "activations", err) < 0 ||
        dev_alloc((void **)&m->gu, K * 2 * Fmax * sizeof(float), "activations", err) < 0 ||
        dev_alloc((void **)&m->out, K * d * sizeof(float), "activations", err) < 0 ||
        dev_alloc((void **)&m->shared_out, d * sizeof(float), "activations", err) < 0 ||
        dev_alloc((void **)&m->router_logits, E * sizeof(float), "activations", err) < 0 ||
        dev_alloc((void **)&m->logits, V * sizeof(float), "activations", err) < 0 ||
        dev_alloc((void **)&m->gate_scale, sizeof(float), "activations", err) < 0 ||
        dev_alloc((void **)&m->xn16, d * sizeof(__half), "activations", err) < 0 ||
        dev_alloc((void **)&m->att16, H * hd * sizeof(__half), "activations", err) < 0 ||
        dev_alloc((void **)&m->h16, K * Fmax * sizeof(__half), "activations", err) < 0 ||
        dev_alloc((void **)&m->ptr_dev, 6 * K * sizeof(void *), "pointer arrays", err) < 0)
        return -1;
    CK(cudaMemset(m->k_cache, 0, kv_bytes), "clearing the KV cache");
    CK(cudaMemset(m->v_cache, 0, kv_bytes), "clearing the KV cache");
    CK(cudaHostAlloc((void **)&m->ptr_host, 6 * K * sizeof(void *), cudaHostAllocDefault),
       "pinned memory");
    CK(cudaHostAlloc((void **)&m->h_router, E * sizeof(float), cudaHostAllocDefault),
       "pinned memory");
    CK(cudaHostAlloc((void **)&m->h_hidden, d * sizeof(float), cudaHostAllocDefault),
       "pinned memory");
    m->prob = (double *)malloc(E * sizeof *m->prob);
    m->pick = (int *)malloc(E * sizeof *m->pick);
    m->experts = (int *)malloc(K * sizeof *m->experts);
    m->pending = (int *)malloc(K * sizeof *m->pending);
    m->gate_w = (float *)malloc(K * sizeof *m->gate_w);
    if (!m->prob || !m->pick || !m->experts || !m->pending || !m->gate_w)
        return promoe_err_set(err, "out of memory");
    // the memsets ran on the legacy stream, which the non-blocking compute
    // stream does not wait for
    CK(cudaDeviceSynchronize(), "setting up the model");
    return 0;
}

static void *cuda_create(const exec_weights *w, int max_positions, int offload, promoe_err *err)
{
    cuda_model *m = (cuda_model *)calloc(1, sizeof *m);
    if (!m) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    m->w = w;
    m->max_positions = max_positions;
    m->offload = offload;
    m->block = exec_expert_floats(&w->model);
    if (setup(m, err) < 0) {
        cuda_destroy(m);
        return NULL;
    }
    return m;
}

// ---- one token ------------------------------------------------------------

static int attention(cuda_model *m, int l, int pos, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    const layer_dev *g = &m->layers[l];
    int d = md->hidden_size, H = md->num_heads, KV = md->num_kv_heads, hd = md->head_dim;
    int q = H * hd, kv = KV * hd;
    float eps = (float)md->rms_norm_eps;
    k_rmsnorm<<<1, THREADS, 0, m->compute>>>(m->x, g->attn_norm, d, eps, m->xn16, NULL);
    if (gemv(m, g->wqkv, q + 2 * kv, d, m->xn16, m->qkv, 0.0f, err) < 0)
        return -1;
    if (g->bqkv)
        k_add<<<grid_for((size_t)(q + 2 * kv)), THREADS, 0, m->compute>>>(m->qkv, g->bqkv,
                                                                          q + 2 * kv);
    if (g->q_norm) { // over the whole projection, or head by head
        int qw = m->w->qk_norm_width, kw = qw == hd ? hd : kv;
        k_rmsnorm<<<q / qw, THREADS, 0, m->compute>>>(m->qkv, g->q_norm, qw, eps, NULL, m->qkv);
        k_rmsnorm<<<kv / kw, THREADS, 0, m->compute>>>(m->qkv + q, g->k_norm, kw, eps, NULL,
                                                        m->qkv + q);
    }
    size_t at = (size_t)l * m->max_positions * kv;
    int pairs = (H + KV) * hd / 2;
    k_rope_store<<<grid_for((size_t)(pairs > kv ? pairs : kv)), THREADS, 0, m->compute>>>(
        m->qkv, m->qkv + q, m->qkv + q + kv, H, KV, hd, pos, md->rope_theta, m->k_cache + at,
        m->v_cache + at);
    k_attention<<<H, THREADS, 0, m->compute>>>(m->qkv, m->k_cache + at, m->v_cache + at, H, KV,
                                                hd, pos + 1, m->max_positions, m->scores,
                                                m->att16);
    if (gemv(m, g->wo, d, q, m->att16, m->x, 1.0f, err) < 0) // x += wo att
        return -1;
    CK(cudaGetLastError(), "a kernel launch");
    return 0;
}

// The router's logits on the host, with the hidden state entering the
// layer (copied before attention changed x).
static int route(cuda_model *m, int l, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    const layer_dev *g = &m->layers[l];
    int d = md->hidden_size, E = md->num_experts;
    k_rmsnorm<<<1, THREADS, 0, m->compute>>>(m->x, g->ffn_norm, d, (float)md->rms_norm_eps,
                                             m->xn16, NULL);
    if (gemv(m, g->router, E, d, m->xn16, m->router_logits, 0.0f, err) < 0)
        return -1;
    CK(cudaMemcpyAsync(m->h_router, m->router_logits, (size_t)E * sizeof(float),
                       cudaMemcpyDeviceToHost, m->compute),
       "router logits to the host");
    CK(cudaStreamSynchronize(m->compute), "the router");
    model_route(m->h_router, E, md->top_k, md->norm_topk_prob, m->prob, m->pick, m->experts,
               m->gate_w);
    return 0;
}

// One expert block (fp16 on the device) on xn16, into out row j.
static int one_expert(cuda_model *m, const __half *block, int F, int j, promoe_err *err)
{
    int d = m->w->model.hidden_size;
    float *gu = m->gu + (size_t)j * 2 * F;
    __half *h = m->h16 + (size_t)j * F;
    if (gemv(m, block, 2 * F, d, m->xn16, gu, 0.0f, err) < 0) // gate and up, stacked
        return -1;
    k_swiglu<<<grid_for((size_t)F), THREADS, 0, m->compute>>>(gu, F, 1, h);
    return gemv(m, block + 2 * (size_t)F * d, d, F, h, m->out + (size_t)j * d, 0.0f, err);
}

// One offloaded expert, from the slot its source handed over (rank `rank`).
static int offloaded_expert(void *ctx, const void *block, int rank, promoe_err *err)
{
    cuda_model *m = (cuda_model *)ctx;
    return one_expert(m, (const __half *)block, m->w->model.expert_ffn_dim, rank, err);
}

// The layer's routed experts: resident ones as batched GEMMs, offloaded
// ones one by one as the source hands them over; then their weighted sum.
static int routed_experts(cuda_model *m, int l, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    int d = md->hidden_size, F = md->expert_ffn_dim, K = md->top_k;
    if (!m->source.acquire) {
        const __half *base = m->layers[l].experts;
        const void **p = m->ptr_host;
        for (int j = 0; j < K; j++) {
            const __half *b = base + (size_t)m->experts[j] * m->block;
            p[j] = b;                                  // gate and up
            p[K + j] = m->xn16;
            p[2 * K + j] = m->gu + (size_t)j * 2 * F;
            p[3 * K + j] = b + 2 * (size_t)F * d;      // down
            p[4 * K + j] = m->h16 + (size_t)j * F;
            p[5 * K + j] = m->out + (size_t)j * d;
        }
        CK(cudaMemcpyAsync(m->ptr_dev, p, 6 * (size_t)K * sizeof(void *), cudaMemcpyHostToDevice,
                           m->compute),
           "pointer arrays");
        const void *const *dp = m->ptr_dev;
        if (gemv_batched(m, dp, 2 * F, d, dp + K, (void *const *)(dp + 2 * K), K, err) < 0)
            return -1;
        k_swiglu<<<grid_for((size_t)F * K), THREADS, 0, m->compute>>>(m->gu, F, K, m->h16);
        if (gemv_batched(m, dp + 3 * K, d, F, dp + 4 * K, (void *const *)(dp + 5 * K), K, err) < 0)
            return -1;
    } else if (exec_run_experts(&m->source, l, m->experts, K, m->pending, offloaded_expert, m,
                                err) < 0) {
        return -1;
    }
    gate_weights gw;
    for (int j = 0; j < K; j++)
        gw.w[j] = m->gate_w[j];
    k_combine<<<grid_for((size_t)d), THREADS, 0, m->compute>>>(m->x, m->out, K, d, gw);
    CK(cudaGetLastError(), "a kernel launch");
    return 0;
}

static int shared_experts(cuda_model *m, int l, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    const layer_dev *g = &m->layers[l];
    int d = md->hidden_size, Fs = md->shared_ffn_dim;
    if (g->shared_gate)
        k_shared_gate<<<1, THREADS, 0, m->compute>>>(g->shared_gate, m->xn16, d, m->gate_scale);
    for (int s = 0; s < md->num_shared_experts; s++) {
        const __half *b = g->shared + (size_t)s * 3 * Fs * d;
        if (gemv(m, b, 2 * Fs, d, m->xn16, m->gu, 0.0f, err) < 0)
            return -1;
        k_swiglu<<<grid_for((size_t)Fs), THREADS, 0, m->compute>>>(m->gu, Fs, 1, m->h16);
        if (gemv(m, b + 2 * (size_t)Fs * d, d, Fs, m->h16, m->shared_out, 0.0f, err) < 0)
            return -1;
        k_add_scaled<<<grid_for((size_t)d), THREADS, 0, m->compute>>>(
            m->x, m->shared_out, d, g->shared_gate ? m->gate_scale : NULL);
    }
    CK(cudaGetLastError(), "a kernel launch");
    return 0;
}

// One token a step (the backend is not `batched`: a prompt runs a token at
// a time).
static int cuda_step(void *p, const int32_t *tokens, int n, int pos, float *logits,
                     exec_route_fn observe, void *ctx, promoe_err *err)
{
    cuda_model *m = (cuda_model *)p;
    const model_desc *md = &m->w->model;
    int d = md->hidden_size, token = tokens[0];
    if (n != 1)
        return promoe_err_set(err, "the cuda backend steps one token at a time (%d given)", n);
    if (token < 0 || token >= md->vocab_size)
        return promoe_err_set(err, "token id %d outside the vocabulary [0, %d)", token,
                              md->vocab_size);
    if (pos < 0 || pos >= m->max_positions)
        return promoe_err_set(err, "position %d beyond the KV cache's %d", pos, m->max_positions);
    k_embed<<<grid_for((size_t)d), THREADS, 0, m->compute>>>(m->embed, token, d, m->x);
    for (int l = 0; l < md->num_layers; l++) {
        if (observe)
            CK(cudaMemcpyAsync(m->h_hidden, m->x, (size_t)d * sizeof(float),
                               cudaMemcpyDeviceToHost, m->compute),
               "the hidden state to the host");
        if (attention(m, l, pos, err) < 0 || route(m, l, err) < 0)
            return -1;
        if (observe) {
            exec_routing r = {.layer = l, .tokens = 1, .hidden = m->h_hidden,
                              .logits = m->h_router, .experts = m->experts,
                              .weights = m->gate_w};
            if (observe(ctx, &r, err) < 0)
                return -1;
        }
        if (routed_experts(m, l, err) < 0 || shared_experts(m, l, err) < 0)
            return -1;
    }
    k_rmsnorm<<<1, THREADS, 0, m->compute>>>(m->x, m->final_norm, d, (float)md->rms_norm_eps,
                                             m->xn16, NULL);
    if (gemv(m, m->lm_head, md->vocab_size, d, m->xn16, m->logits, 0.0f, err) < 0)
        return -1;
    CK(cudaMemcpyAsync(logits, m->logits, (size_t)md->vocab_size * sizeof(float),
                       cudaMemcpyDeviceToHost, m->compute),
       "logits to the host");
    CK(cudaStreamSynchronize(m->compute), "the step");
    return 0;
}

static void cuda_set_source(void *p, const exec_expert_source *src)
{
    ((cuda_model *)p)->source = *src;
}

// ---- the mover: slots in GPU memory, copies on the copy stream -------------

static void *mover_alloc(void *ctx, size_t bytes, promoe_err *err)
{
    (void)ctx;
    void *p = NULL;
    return dev_alloc(&p, bytes, "the expert slots", err) < 0 ? NULL : p;
}

static void mover_release(void *ctx, void *p)
{
    cuda_model *m = (cuda_model *)ctx;
    cudaStreamSynchronize(m->compute); // nothing may still read it
    cudaFree(p);
}

static const void *mover_source(void *ctx, int key)
{
    cuda_model *m = (cuda_model *)ctx;
    return m->host_experts + (size_t)key * m->block;
}

static int mover_copy(void *ctx, void *dst, const void *src, size_t bytes, promoe_err *err)
{
    cuda_model *m = (cuda_model *)ctx;
    CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, m->copy), "copying an expert");
    CK(cudaEventRecord(m->copied, m->copy), "recording a copy");
    CK(cudaEventSynchronize(m->copied), "waiting for a copy");
    return 0;
}

static void mover_fence(void *ctx) { cudaStreamSynchronize(((cuda_model *)ctx)->compute); }

static expert_mover cuda_mover(void *p)
{
    cuda_model *m = (cuda_model *)p;
    expert_mover mv;
    mv.expert_bytes = m->block * sizeof(__half);
    mv.alloc = mover_alloc;
    mv.release = mover_release;
    mv.source = mover_source;
    mv.copy = mover_copy;
    mv.fence = mover_fence;
    mv.ctx = m;
    return mv;
}

// ---- profile ---------------------------------------------------------------

enum timed_op { T_ATTENTION, T_ROUTER, T_EXPERT, T_SHARED };

// The median of reps runs of op, timed by events on the compute stream,
// on layer r % L (and expert r / L % E, copied to a scratch block).
static int time_op(cuda_model *m, enum timed_op op, int context, int reps, double *runs,
                   double *median, promoe_err *err)
{
    const model_desc *md = &m->w->model;
    int L = md->num_layers, E = md->num_experts;
    for (int r = 0; r < reps; r++) {
        int l = r % L;
        if (op == T_EXPERT) {
            const __half *src = m->offload ? m->host_experts + ((size_t)l * E + r / L % E) * m->block
                                           : NULL;
            if (src)
                CK(cudaMemcpy(m->scratch_expert, src, m->block * sizeof(__half),
                              cudaMemcpyHostToDevice), "an expert for timing");
            else
                CK(cudaMemcpy(m->scratch_expert,
                              m->layers[l].experts + (size_t)(r / L % E) * m->block,
                              m->block * sizeof(__half), cudaMemcpyDeviceToDevice),
                   "an expert for timing");
        }
        CK(cudaEventRecord(m->start, m->compute), "an event");
        int rc = 0;
        switch (op) {
        case T_ATTENTION: rc = attention(m, l, context, err); break;
        case T_ROUTER: rc = route(m, l, err); break;
        case T_EXPERT: rc = one_expert(m, m->scratch_expert, md->expert_ffn_dim, 0, err); break;
        case T_SHARED: rc = shared_experts(m, l, err); break;
        }
        if (rc < 0)
            return -1;
        CK(cudaEventRecord(m->stop, m->compute), "an event");
        CK(cudaEventSynchronize(m->stop), "an event");
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, m->start, m->stop), "an event");
        runs[r] = ms * 1e-3;
    }
    gsl_sort(runs, 1, (size_t)reps);
    *median = gsl_stats_median_from_sorted_data(runs, 1, (size_t)reps);
    return 0;
}

static int cuda_time_ops(void *p, int context, int tokens, int reps, exec_op_times *t,
                         promoe_err *err)
{
    cuda_model *m = (cuda_model *)p;
    const model_desc *md = &m->w->model;
    if (tokens != 1)
        return promoe_err_set(err, "the cuda backend steps one token at a time (%d given)",
                              tokens);
    if (context < 0 || context >= m->max_positions)
        return promoe_err_set(err, "context %d beyond the KV cache's %d positions", context,
                              m->max_positions);
    reps = reps > 0 ? reps : 1;
    double *runs = (double *)malloc((size_t)reps * sizeof *runs);
    if (!runs)
        return promoe_err_set(err, "out of memory");
    int rc = 0;
    if (!m->scratch_expert)
        rc = dev_alloc((void **)&m->scratch_expert, m->block * sizeof(__half), "an expert", err);
    cudaError_t e = cudaMemcpy(m->x, m->w->embed, (size_t)md->hidden_size * sizeof(float),
                               cudaMemcpyHostToDevice);
    if (rc == 0 && e != cudaSuccess)
        rc = cuda_fail(err, "an input", e);
    memset(t, 0, sizeof *t);
    if (rc == 0)
        rc = time_op(m, T_ATTENTION, context, reps, runs, &t->attention_s, err);
    if (rc == 0)
        rc = time_op(m, T_ROUTER, context, reps, runs, &t->router_s, err);
    if (rc == 0) { // the expert's input: a normed hidden state
        k_rmsnorm<<<1, THREADS, 0, m->compute>>>(m->x, m->layers[0].ffn_norm, md->hidden_size,
                                                 (float)md->rms_norm_eps, m->xn16, NULL);
        rc = time_op(m, T_EXPERT, context, reps, runs, &t->expert_s, err);
    }
    if (rc == 0 && md->num_shared_experts)
        rc = time_op(m, T_SHARED, context, reps, runs, &t->shared_s, err);
    free(runs);
    return rc;
}

static void cuda_describe(void *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s", ((cuda_model *)p)->device);
}

/* the plugin's backend (exec/cuda_plugin.h: CUDA_PLUGIN_BACKEND) */
extern "C" const exec_backend_ops cuda_plugin_backend = {
    "cuda",
    "fp16 weights on one GPU, fp32 accumulation (cuBLAS); offloaded experts in pinned host "
    "memory, copied on a copy stream",
    cuda_create,
    cuda_destroy,
    cuda_step,
    0, // not batched: one token a step
    cuda_set_source,
    cuda_mover,
    cuda_time_ops,
    cuda_describe,
};
