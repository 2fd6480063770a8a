/* The executor's CPU model: its parts against values worked out by hand,
 * and whole steps against a second implementation written here in double
 * precision that recomputes every position from scratch (no KV cache),
 * so the cache, the rotary positions, the grouped heads, the routing and
 * the experts are all checked against another method. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/memory.h"
#include "common/options.h"
#include "exec/cpu_model.h"
#include "models/route.h"
#include "exec/generate.h"
#include "common/safetensors.h"
#include "exec/weights.h"
#include "exec/weights_safetensors.h"
#include "offload/event_log.h"
#include "offload/system.h"
#include "traces/trace.h"
#include "tests/testutil.h"

START_TEST(rmsnorm_rope_route_by_hand)
{
    /* (3, 4): root mean square sqrt(12.5); weights (1, 2) */
    float x[2] = {3, 4}, w[2] = {1, 2}, out[2];
    exec_rmsnorm(x, w, 2, 1e-6, out);
    ck_assert_double_eq_tol(out[0], 3 / sqrt(12.5), 1e-6);
    ck_assert_double_eq_tol(out[1], 8 / sqrt(12.5), 1e-6);
    /* position 0 leaves a vector as it is; position 1 turns the first pair
     * (x[0], x[2]) by 1 radian and the second (x[1], x[3]) by 10000^-0.5 */
    float v[4] = {1, 0.5f, 0, 2};
    exec_rope(v, 4, 0, 10000);
    ck_assert(v[0] == 1 && v[1] == 0.5f && v[2] == 0 && v[3] == 2);
    exec_rope(v, 4, 1, 10000);
    double a = 0.01;
    ck_assert_double_eq_tol(v[0], cos(1.0), 1e-6);
    ck_assert_double_eq_tol(v[2], sin(1.0), 1e-6);
    ck_assert_double_eq_tol(v[1], 0.5 * cos(a) - 2 * sin(a), 1e-6);
    ck_assert_double_eq_tol(v[3], 0.5 * sin(a) + 2 * cos(a), 1e-6);
    /* a base of 100 turns the second pair by 100^-0.5 = 0.1 at position 1 */
    float u[4] = {0, 1, 0, 0};
    exec_rope(u, 4, 1, 100);
    ck_assert_double_eq_tol(u[1], cos(0.1), 1e-6);
    ck_assert_double_eq_tol(u[3], sin(0.1), 1e-6);
    /* epsilon: (3, 4) with eps 2.5 has rms sqrt(15) */
    exec_rmsnorm(x, w, 2, 2.5, out);
    ck_assert_double_eq_tol(out[0], 3 / sqrt(15.0), 1e-6);
    /* logits ln 1..4: probabilities 0.1, 0.2, 0.3, 0.4; the top 2 are
     * experts 3 and 2, weighted 4/7 and 3/7 renormalised, else 0.4, 0.3 */
    float logits[4] = {0, (float)log(2), (float)log(3), (float)log(4)}, gw[2];
    double prob[4];
    int pick[4], ex[2];
    model_route(logits, 4, 2, 1, prob, pick, ex, gw);
    ck_assert(ex[0] == 3 && ex[1] == 2);
    ck_assert_double_eq_tol(gw[0], 4.0 / 7, 1e-6);
    ck_assert_double_eq_tol(gw[1], 3.0 / 7, 1e-6);
    model_route(logits, 4, 2, 0, prob, pick, ex, gw);
    ck_assert_double_eq_tol(gw[0], 0.4, 1e-6);
    ck_assert_double_eq_tol(gw[1], 0.3, 1e-6);
}
END_TEST

/* A small model with grouped heads and a shared expert. */
static void mini_model(model_desc *m, int normalize)
{
    char text[512];
    snprintf(text, sizeof text,
             "[model]\nname = mini\nnum_layers = 3\nnum_experts = 6\ntop_k = 2\nhidden_size = 32\n"
             "expert_ffn_dim = 24\nnum_shared_experts = 1\nshared_ffn_dim = 16\nnum_heads = 4\n"
             "num_kv_heads = 2\nhead_dim = 8\nvocab_size = 50\nbits_per_weight = 16\n"
             "norm_topk_prob = %d\n", normalize);
    promoe_err err = {{0}};
    ck_assert_msg(model_load(tu_write_file("mini.ini", text), m, &err) == 0, "%s", err.msg);
}

/* ---- the second implementation: double precision, no cache ---------- */

static void ref_matvec(const float *W, int rows, int cols, const double *x, double *y)
{
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++)
            s += (double)W[(size_t)r * cols + c] * x[c];
        y[r] = s;
    }
}

static void ref_norm(const double *x, const float *w, int n, double eps, double *out)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    for (int i = 0; i < n; i++)
        out[i] = x[i] / sqrt(ss / n + eps) * w[i];
}

static void ref_rotate(double *v, int hd, int pos, double theta)
{
    for (int i = 0; i < hd / 2; i++) {
        double f = pos / pow(theta, 2.0 * i / hd), a = v[i], b = v[i + hd / 2];
        v[i] = a * cos(f) - b * sin(f);
        v[i + hd / 2] = a * sin(f) + b * cos(f);
    }
}

static void ref_swiglu(const float *block, int F, int d, const double *x, double weight,
                       double *out)
{
    double *g = malloc((size_t)F * sizeof *g), *u = malloc((size_t)F * sizeof *u);
    ref_matvec(block, F, d, x, g);
    ref_matvec(block + (size_t)F * d, F, d, x, u);
    for (int i = 0; i < F; i++)
        g[i] = g[i] / (1 + exp(-g[i])) * u[i];
    const float *dn = block + 2 * (size_t)F * d;
    for (int r = 0; r < d; r++) {
        double s = 0;
        for (int c = 0; c < F; c++)
            s += (double)dn[(size_t)r * F + c] * g[c];
        out[r] += weight * s;
    }
    free(g);
    free(u);
}

/* Runs tokens[0..P) from scratch; fills the last position's vocabulary
 * logits and every (position, layer)'s chosen experts [P][L][K]. */
static void reference(const exec_weights *w, const int *tokens, int P, double *logits,
                      int *chosen)
{
    const model_desc *m = &w->model;
    int d = m->hidden_size, H = m->num_heads, KV = m->num_kv_heads, hd = m->head_dim;
    int E = m->num_experts, K = m->top_k, L = m->num_layers;
    double *x = calloc((size_t)P * d, sizeof *x), *xn = malloc((size_t)d * sizeof *xn);
    double *q = malloc((size_t)P * H * hd * sizeof *q), *k = malloc((size_t)P * KV * hd * sizeof *k);
    double *v = malloc((size_t)P * KV * hd * sizeof *v), *att = malloc((size_t)H * hd * sizeof *att);
    double *o = malloc((size_t)d * sizeof *o), *rl = malloc((size_t)E * sizeof *rl);
    for (int t = 0; t < P; t++)
        for (int i = 0; i < d; i++)
            x[(size_t)t * d + i] = w->embed[(size_t)tokens[t] * d + i];
    double eps = m->rms_norm_eps, theta = m->rope_theta;
    for (int l = 0; l < L; l++) {
        const exec_layer_weights *y = &w->layers[l];
        for (int t = 0; t < P; t++) {
            double *qt = q + (size_t)t * H * hd, *kt = k + (size_t)t * KV * hd;
            double *vt = v + (size_t)t * KV * hd;
            ref_norm(x + (size_t)t * d, y->attn_norm, d, eps, xn);
            ref_matvec(y->wq, H * hd, d, xn, qt);
            ref_matvec(y->wk, KV * hd, d, xn, kt);
            ref_matvec(y->wv, KV * hd, d, xn, vt);
            for (int i = 0; y->bq && i < H * hd; i++)
                qt[i] += y->bq[i];
            for (int i = 0; y->bq && i < KV * hd; i++) {
                kt[i] += y->bk[i];
                vt[i] += y->bv[i];
            }
            /* query/key norms: over all of q and of k, or head by head */
            int per_head = w->qk_norm_width == hd;
            for (int h = 0; y->q_norm && h < (per_head ? H : 1); h++)
                ref_norm(qt + h * hd, y->q_norm, per_head ? hd : H * hd, eps, qt + h * hd);
            for (int h = 0; y->q_norm && h < (per_head ? KV : 1); h++)
                ref_norm(kt + h * hd, y->k_norm, per_head ? hd : KV * hd, eps, kt + h * hd);
            for (int h = 0; h < H; h++)
                ref_rotate(qt + (size_t)h * hd, hd, t, theta);
            for (int h = 0; h < KV; h++)
                ref_rotate(kt + (size_t)h * hd, hd, t, theta);
        }
        for (int t = 0; t < P; t++) {
            for (int h = 0; h < H; h++) {
                int g = h * KV / H;
                double s[64], mx = -1e300, sum = 0;
                for (int u = 0; u <= t; u++) {
                    s[u] = 0;
                    for (int i = 0; i < hd; i++)
                        s[u] += q[((size_t)t * H + h) * hd + i] * k[((size_t)u * KV + g) * hd + i];
                    s[u] /= sqrt((double)hd);
                    mx = fmax(mx, s[u]);
                }
                for (int u = 0; u <= t; u++)
                    sum += s[u] = exp(s[u] - mx);
                for (int i = 0; i < hd; i++) {
                    double a = 0;
                    for (int u = 0; u <= t; u++)
                        a += s[u] / sum * v[((size_t)u * KV + g) * hd + i];
                    att[(size_t)h * hd + i] = a;
                }
            }
            ref_matvec(y->wo, d, H * hd, att, o);
            for (int i = 0; i < d; i++)
                x[(size_t)t * d + i] += o[i];
            /* the FFN block */
            ref_norm(x + (size_t)t * d, y->ffn_norm, d, eps, xn);
            ref_matvec(y->router, E, d, xn, rl);
            double mx = -1e300, sum = 0, p[64];
            for (int e = 0; e < E; e++)
                mx = fmax(mx, rl[e]);
            for (int e = 0; e < E; e++)
                sum += p[e] = exp(rl[e] - mx);
            int top[8];
            double chosen_sum = 0;
            for (int j = 0; j < K; j++) { /* selection by repeated maximum */
                int best = -1;
                for (int e = 0; e < E; e++) {
                    int taken = 0;
                    for (int i = 0; i < j; i++)
                        taken |= top[i] == e;
                    if (!taken && (best < 0 || p[e] > p[best]))
                        best = e;
                }
                top[j] = best;
                chosen_sum += p[best];
                chosen[((size_t)t * L + l) * K + j] = best;
            }
            double *acc = calloc((size_t)d, sizeof *acc);
            size_t block = exec_expert_floats(m);
            for (int j = 0; j < K; j++)
                ref_swiglu(y->experts + (size_t)top[j] * block, m->expert_ffn_dim, d, xn,
                           p[top[j]] / (m->norm_topk_prob ? chosen_sum : sum), acc);
            double gate = 1;
            if (y->shared_gate) {
                double g = 0;
                for (int i = 0; i < d; i++)
                    g += y->shared_gate[i] * xn[i];
                gate = 1 / (1 + exp(-g));
            }
            for (int s2 = 0; s2 < m->num_shared_experts; s2++)
                ref_swiglu(y->shared + (size_t)s2 * 3 * m->shared_ffn_dim * d, m->shared_ffn_dim, d,
                           xn, gate, acc);
            for (int i = 0; i < d; i++)
                x[(size_t)t * d + i] += acc[i];
            free(acc);
        }
    }
    ref_norm(x + (size_t)(P - 1) * d, w->final_norm, d, eps, xn);
    for (int r = 0; r < m->vocab_size; r++) {
        double s = 0;
        for (int c = 0; c < d; c++)
            s += (double)w->lm_head[(size_t)r * d + c] * xn[c];
        logits[r] = s;
    }
    free(x);
    free(xn);
    free(q);
    free(k);
    free(v);
    free(att);
    free(o);
    free(rl);
}

/* Steps the CPU model through 7 tokens of the mini model with weights w
 * and checks each position's logits and every choice of experts against
 * the reference. */
static void check_against_reference(const exec_weights *w)
{
    enum { P = 7 };
    const int32_t tokens[P] = {3, 17, 42, 0, 49, 8, 8};
    const model_desc *m = &w->model;
    promoe_err err = {{0}};
    exec_cpu_model *cm = exec_cpu_create(w, 16, &err);
    ck_assert_ptr_nonnull(cm);
    float logits[50];
    int experts[P * 3 * 2], want_experts[P * 3 * 2];
    tu_expert_log s = {.L = m->num_layers, .K = m->top_k, .experts = experts};
    for (int t = 0; t < P; t++) {
        s.pos = t;
        ck_assert_int_eq(exec_cpu_step(cm, &tokens[t], 1, t, logits, tu_log_experts, &s, &err), 0);
        double want[50];
        reference(w, tokens, t + 1, want, want_experts);
        double worst = 0;
        for (int i = 0; i < m->vocab_size; i++)
            worst = fmax(worst, fabs(logits[i] - want[i]) / (1 + fabs(want[i])));
        ck_assert_msg(worst < 1e-4, "position %d: logits differ by %g", t, worst);
    }
    ck_assert_mem_eq(experts, want_experts, sizeof experts);
    /* a batched prefill: the first 5 tokens as one step, then the last two
     * one at a time, reading the keys and values the batch cached */
    exec_cpu_model *batched = exec_cpu_create(w, 16, &err);
    ck_assert_ptr_nonnull(batched);
    memset(experts, 0xff, sizeof experts);
    s.pos = 0;
    ck_assert_int_eq(exec_cpu_step(batched, tokens, 5, 0, logits, tu_log_experts, &s, &err), 0);
    for (int t = 5; t < P; t++) {
        s.pos = t;
        ck_assert_int_eq(exec_cpu_step(batched, &tokens[t], 1, t, logits, tu_log_experts, &s,
                                       &err), 0);
    }
    double want[50];
    reference(w, tokens, P, want, want_experts);
    for (int i = 0; i < m->vocab_size; i++)
        ck_assert_msg(fabs(logits[i] - want[i]) / (1 + fabs(want[i])) < 1e-4,
                      "batched: logit %d differs: %g against %g", i, logits[i], want[i]);
    ck_assert_mem_eq(experts, want_experts, sizeof experts);
    exec_cpu_free(batched);
    exec_cpu_free(cm);
}

START_TEST(steps_match_a_second_implementation)
{
    for (int normalize = 0; normalize <= 1; normalize++) {
        model_desc m;
        mini_model(&m, normalize);
        exec_weights w;
        promoe_err err = {{0}};
        ck_assert_msg(exec_weights_synthetic(&m, 5, &w, &err) == 0, "%s", err.msg);
        check_against_reference(&w);
        exec_weights_free(&w);
    }
}
END_TEST

/* Random values near `centre` for the optional parts. */
static void fill_near(float *v, int n, float centre, unsigned *state)
{
    for (int i = 0; i < n; i++) {
        *state = *state * 1103515245u + 12345u;
        v[i] = centre + ((float)(*state >> 16 & 0x7fff) / 32768.0f - 0.5f) * 0.8f;
    }
}

/* The families' extra parts (query/key norms over the projection as OLMoE
 * has them, or per head; attention biases; a gated shared expert) and
 * another rotary base and epsilon: the model matches the reference, and a
 * checkpoint holding them loads back to the same numbers. */
START_TEST(family_extras_match_the_reference)
{
    for (int per_head = 0; per_head <= 1; per_head++) {
        model_desc m;
        mini_model(&m, 1);
        m.rope_theta = 1e6;
        m.rms_norm_eps = 1e-5;
        exec_weights w, back;
        promoe_err err = {{0}};
        ck_assert_int_eq(exec_weights_synthetic(&m, 6, &w, &err), 0);
        int width = per_head ? m.head_dim : m.num_heads * m.head_dim;
        ck_assert_msg(exec_weights_add_extras(&w, EXEC_QK_NORM | EXEC_QKV_BIAS | EXEC_SHARED_GATE,
                                              width, &err) == 0, "%s", err.msg);
        unsigned state = 7;
        int kw = per_head ? m.head_dim : m.num_kv_heads * m.head_dim;
        for (int l = 0; l < m.num_layers; l++) {
            exec_layer_weights *y = &w.layers[l];
            fill_near(y->q_norm, width, 1, &state);
            fill_near(y->k_norm, kw, 1, &state);
            fill_near(y->bq, m.num_heads * m.head_dim, 0, &state);
            fill_near(y->bk, m.num_kv_heads * m.head_dim, 0, &state);
            fill_near(y->bv, m.num_kv_heads * m.head_dim, 0, &state);
            fill_near(y->shared_gate, m.hidden_size, 0, &state);
        }
        check_against_reference(&w);
        ck_assert_msg(exec_weights_save(&w, tu_path("extras.safetensors"), 0, &err) == 0, "%s",
                      err.msg);
        ck_assert_msg(exec_weights_load(&m, tu_path("extras.safetensors"), &back, &err) == 0,
                      "%s", err.msg);
        ck_assert_int_eq(back.qk_norm_width, width);
        ck_assert_mem_eq(back.arena, w.arena, w.floats * sizeof(float));
        for (int l = 0; l < m.num_layers; l++) {
            ck_assert_mem_eq(back.layers[l].q_norm, w.layers[l].q_norm, width * sizeof(float));
            ck_assert_mem_eq(back.layers[l].k_norm, w.layers[l].k_norm, kw * sizeof(float));
            ck_assert_mem_eq(back.layers[l].bv, w.layers[l].bv, 16 * sizeof(float));
            ck_assert_mem_eq(back.layers[l].shared_gate, w.layers[l].shared_gate,
                             32 * sizeof(float));
        }
        exec_weights_free(&back);
        /* without the gate, the shared expert counts fully */
        for (int l = 0; l < m.num_layers; l++)
            w.layers[l].shared_gate = NULL;
        check_against_reference(&w);
        exec_weights_free(&w);
    }
}
END_TEST

START_TEST(weights_are_deterministic_and_sized)
{
    model_desc m;
    mini_model(&m, 1);
    exec_weights a, b, c;
    promoe_err err = {{0}};
    ck_assert_int_eq(exec_weights_synthetic(&m, 1, &a, &err), 0);
    ck_assert_int_eq(exec_weights_synthetic(&m, 1, &b, &err), 0);
    ck_assert_int_eq(exec_weights_synthetic(&m, 2, &c, &err), 0);
    /* 2 x 50 x 32 + 32 + 3 x (2 x 32 + 32 x 32 + 2 x 16 x 32 + 32 x 32 + 6 x 32
     *   + 6 x 3 x 24 x 32 + 3 x 16 x 32) */
    ck_assert_uint_eq(a.floats, 3232 + 3 * (64 + 1024 + 1024 + 1024 + 192 + 13824 + 1536));
    ck_assert_mem_eq(a.arena, b.arena, a.floats * sizeof(float));
    /* every float set: the embedding has unit variance, a matrix of `in`
     * inputs 1/in, norms near 1 (a value left unset would be garbage) */
    double emb = 0, wq = 0, norm = 0;
    for (size_t i = 0; i < 50 * 32; i++)
        emb += (double)a.embed[i] * a.embed[i];
    for (size_t i = 0; i < 32 * 32; i++)
        wq += (double)a.layers[2].wq[i] * a.layers[2].wq[i];
    for (size_t i = 0; i < 32; i++)
        norm += a.final_norm[i];
    ck_assert_double_eq_tol(emb / (50 * 32), 1.0, 0.1);
    ck_assert_double_eq_tol(wq / (32 * 32) * 32, 1.0, 0.15);
    ck_assert_double_eq_tol(norm / 32, 1.0, 0.1);
    for (size_t i = 0; i < a.floats; i++)
        ck_assert_msg(isfinite(a.arena[i]) && fabsf(a.arena[i]) < 10, "float %zu is %g", i,
                      a.arena[i]);
    ck_assert(memcmp(a.arena, c.arena, a.floats * sizeof(float)) != 0);
    exec_weights_free(&a);
    exec_weights_free(&b);
    exec_weights_free(&c);
    /* Mixtral-8x7B in fp32 is 188 GB: refused up front where it cannot fit */
    ck_assert_int_eq(model_load("mixtral-8x7b", &m, &err), 0);
    double need = exec_model_floats(&m) * sizeof(float);
    ck_assert_double_gt(need, 180e9);
    if (memory_physical_bytes() > 0 && memory_physical_bytes() < need) {
        ck_assert_int_eq(exec_weights_synthetic(&m, 1, &a, &err), -1);
        ck_assert_msg(strstr(err.msg, "the fp32 weights of mixtral-8x7b needs"), "%s", err.msg);
    }
    /* shapes the executor cannot run */
    m.num_kv_heads = 3;
    ck_assert_int_eq(exec_model_check(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, "32 heads are not a multiple of its 3 KV heads"), "%s", err.msg);
}
END_TEST

/* The recorder: two requests generated and recorded; the trace holds the
 * prompt as one prefill iteration and each fed-back token as a decode
 * iteration, with the experts the model chose when stepped directly. */
START_TEST(recorded_trace_is_what_the_model_did)
{
    model_desc m;
    mini_model(&m, 1);
    exec_weights w;
    promoe_err err = {{0}};
    ck_assert_int_eq(exec_weights_synthetic(&m, 9, &w, &err), 0);
    const int32_t p0[] = {4, 9, 16}, p1[] = {25, 36};
    exec_prompt prompts[2] = {{p0, 3}, {p1, 2}};
    exec_gen_config cfg = {.max_new = 4, .record = tu_path("rec.h5"), .record_hidden = 1};
    exec_gen_result r;
    ck_assert_msg(exec_generate(&w, prompts, 2, &cfg, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.prefill_tokens, 5);
    ck_assert_int_eq(r.decode_tokens, 2 * 3);
    /* step the model by hand over the same tokens, keeping its choices */
    enum { T = 11 };
    int want[T * 3 * 2], req[T], pos[T];
    int32_t tok[T];
    int t = 0;
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < prompts[i].n; j++, t++)
            tok[t] = prompts[i].ids[j], req[t] = i, pos[t] = j;
        for (int j = 0; j < 3; j++, t++)
            tok[t] = r.output[i * 4 + j], req[t] = i, pos[t] = prompts[i].n + j;
    }
    ck_assert_int_eq(t, T);
    exec_cpu_model *cm = exec_cpu_create(&w, 16, &err);
    float logits[50];
    tu_expert_log s = {.L = 3, .K = 2, .experts = want};
    for (t = 0; t < T; t++) {
        s.pos = t;
        ck_assert_int_eq(exec_cpu_step(cm, &tok[t], 1, pos[t], logits, tu_log_experts, &s, &err),
                         0);
        /* greedy: a token fed back is the argmax of the step before it */
        if (t + 1 < T && req[t + 1] == req[t] && pos[t + 1] >= prompts[req[t]].n) {
            int best = 0;
            for (int v = 1; v < 50; v++)
                best = logits[v] > logits[best] ? v : best;
            ck_assert_int_eq(best, tok[t + 1]);
        }
    }
    exec_cpu_free(cm);
    trace_reader *tr = trace_reader_open(tu_path("rec.h5"), TRACE_WEIGHTS | TRACE_LOGITS |
                                         TRACE_HIDDEN, &err);
    ck_assert_msg(tr != NULL, "%s", err.msg);
    const trace_meta *meta = trace_reader_meta(tr);
    ck_assert_int_eq(meta->num_tokens, T);
    ck_assert_int_eq(meta->num_requests, 2);
    ck_assert_int_eq(meta->hidden_dim, 32);
    ck_assert(meta->content & TRACE_ROUTER_WEIGHT);
    trace_iteration it;
    int got, iterations = 0;
    t = 0;
    while ((got = trace_read_iteration(tr, &it, &err)) > 0) {
        iterations++;
        for (size_t i = 0; i < it.num_tokens; i++, t++) {
            ck_assert_int_eq(it.request[i], req[t]);
            ck_assert_int_eq(it.position[i], pos[t]);
            ck_assert_int_eq(it.phase[i], pos[t] < prompts[req[t]].n ? TRACE_PREFILL : TRACE_DECODE);
            for (int j = 0; j < 3 * 2; j++)
                ck_assert_int_eq(it.experts[i * 6 + j], want[t * 6 + j]);
            /* the hidden state entering layer 0 is the token's embedding
             * (stored as float16: 11 significant bits) */
            for (int x = 0; x < 32; x++)
                ck_assert_double_eq_tol(it.hidden[i * 3 * 32 + x], w.embed[(size_t)tok[t] * 32 + x],
                                        1e-3 * (1 + fabs(w.embed[(size_t)tok[t] * 32 + x])));
        }
    }
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(iterations, 2 + 2 * 3); /* a prefill and 3 decodes a request */
    trace_reader_close(tr);
    free(r.output);
    exec_weights_free(&w);
}
END_TEST

/* Runs system `name` offloaded on w with `slots` slots (its predictor and
 * static set trained on `train`), logging its events; checks they replay
 * to the run's decisions and returns the result. */
static exec_gen_result run_offloaded(const exec_weights *w, const exec_prompt *prompts, int n,
                                     const char *name, int64_t slots, const char *train)
{
    promoe_err err = {{0}};
    system_desc sd;
    offload_config oc;
    char pred[1200], pred_name[64];
    int fell_back;
    offload_config_defaults(&oc);
    ck_assert_msg(system_load(name, &sd, &err) == 0 &&
                  system_apply(&sd, &oc, &w->model, 1, train, pred, sizeof pred, &fell_back,
                               &err) == 0,
                  "%s", err.msg);
    oc.slots = slots;
    const model_desc *m = &w->model;
    const char *options = options_split_spec(pred, pred_name, sizeof pred_name);
    const predictor_ops *pops = strcmp(pred_name, "none") ? predictor_find(pred_name) : NULL;
    float *routers = exec_weights_routers(w);
    trace_round_stored(routers, (size_t)m->num_layers * m->num_experts * m->hidden_size);
    predictor_env env = {.num_layers = m->num_layers, .num_experts = m->num_experts,
                         .top_k = m->top_k, .hidden_dim = m->hidden_size,
                         .stride_lo = oc.stride, .stride_hi = oc.stride, .seed = 1,
                         .router_weight = routers};
    void *pst = pops ? pops->create(&env, options, &err) : NULL;
    ck_assert_msg(!pops || pst, "%s", err.msg);
    offload_log log = {0};
    exec_gen_config cfg = {.max_new = 6, .offload = oc, .pops = pops, .pst = pst, .log = &log};
    exec_gen_result r;
    ck_assert_msg(exec_generate(w, prompts, n, &cfg, &r, &err) == 0, "%s: %s", name, err.msg);
    uint64_t replayed;
    ck_assert_msg(offload_log_replay(&log, &cfg.offload, m->num_layers, m->num_experts,
                                     m->top_k, NULL, &replayed, &err) == 0, "%s: %s", name,
                  err.msg);
    ck_assert_msg(replayed == r.offload.digest, "%s at %lld slots: replay %016llx, run %016llx",
                  name, (long long)slots, (unsigned long long)replayed,
                  (unsigned long long)r.offload.digest);
    offload_log_free(&log);
    if (pst)
        pops->destroy(pst);
    free(routers);
    return r;
}

/* The executor runs the simulator's decision engine on the run's real
 * events: for every system it runs, at a quarter and half of tiny's
 * experts, the events replayed through a fresh engine with no clock make
 * the same decisions one by one; offloading changes no output; every
 * demand is a hit, a late hit or a miss; every copy the engine asked for
 * was made or withdrawn, and each miss was copied.  Systems the executor
 * does not run are refused with the reason. */
START_TEST(every_system_replays_its_decisions)
{
    model_desc m;
    promoe_err err = {{0}};
    ck_assert_int_eq(model_load("tiny", &m, &err), 0);
    exec_weights w;
    ck_assert_int_eq(exec_weights_synthetic(&m, 5, &w, &err), 0);
    const int32_t p0[] = {3, 17, 42, 0, 99, 8, 8, 120}, p1[] = {9, 8, 7};
    exec_prompt prompts[2] = {{p0, 8}, {p1, 3}};
    /* a recorded run to train on, and the resident output */
    exec_gen_config rec = {.max_new = 6, .record = tu_path("train.h5"), .record_hidden = 1};
    exec_gen_result resident;
    ck_assert_msg(exec_generate(&w, prompts, 2, &rec, &resident, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.num_experts, 8);
    /* a step demands each layer's distinct experts once: counted on the
     * recorded trace (a batched prefill, then one token a step) */
    trace_reader *tr = trace_reader_open(tu_path("train.h5"), 0, &err);
    ck_assert_msg(tr != NULL, "%s", err.msg);
    trace_iteration it;
    int64_t demands = 0, decode_demands = 0, iterations = 0;
    while (trace_read_iteration(tr, &it, &err) > 0) {
        iterations++;
        for (int l = 0; l < m.num_layers; l++) {
            int seen[8] = {0}, distinct = 0;
            for (size_t t = 0; t < it.num_tokens; t++)
                for (int k = 0; k < m.top_k; k++)
                    distinct += !seen[it.experts[(t * m.num_layers + l) * m.top_k + k]]++;
            demands += distinct;
            decode_demands += it.phase[0] == TRACE_DECODE ? distinct : 0;
        }
    }
    trace_reader_close(tr);
    ck_assert_int_eq(iterations, 2 * 6); /* a prefill and 5 decodes a request */
    ck_assert_int_lt(demands, (int64_t)(8 + 3 + 2 * 5) * m.num_layers * m.top_k);
    static const char *const systems[] = {"reactive-lru", "static", "mixtral-offloading",
                                          "moe-infinity", "promoe"};
    int64_t prefetched = 0;
    for (size_t i = 0; i < sizeof systems / sizeof *systems; i++)
        for (int64_t slots = 8; slots <= 16; slots += 8) {
            exec_gen_result r = run_offloaded(&w, prompts, 2, systems[i], slots,
                                              tu_path("train.h5"));
            ck_assert_mem_eq(r.output, resident.output, 2 * 6 * sizeof *r.output);
            const offload_counts *n = &r.offload.counts;
            ck_assert_int_eq(n->demands, demands);
            ck_assert_int_eq(n->decode_demands, decode_demands); /* the decode steps' */
            ck_assert_int_le(n->decode_hits, n->hits);
            ck_assert_int_eq(n->hits + n->late_hits + n->misses, n->demands);
            ck_assert_int_ge(r.offload.store.copies, n->misses);
            ck_assert_int_le(r.offload.store.copies + r.offload.store.withdrawn,
                             n->misses + n->prefetch_issued);
            prefetched += n->prefetch_issued;
            free(r.output);
        }
    ck_assert_int_gt(prefetched, 0);
    system_desc sd;
    offload_config oc;
    char pred[1200];
    int fell_back;
    offload_config_defaults(&oc);
    ck_assert_int_eq(system_load("promoe-plus", &sd, &err), 0);
    ck_assert_int_eq(system_apply(&sd, &oc, &m, 1, NULL, pred, sizeof pred, &fell_back, &err), 0);
    oc.slots = 16;
    exec_gen_config plus = {.max_new = 2, .offload = oc};
    exec_gen_result r;
    ck_assert_int_eq(exec_generate(&w, prompts, 1, &plus, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "does not run staging buffers"), "%s", err.msg);
    free(resident.output);
    exec_weights_free(&w);
}
END_TEST

/* mini without a shared expert (Mixtral's naming has none) */
static void mini_plain(model_desc *m)
{
    mini_model(m, 1);
    m->num_shared_experts = 0;
    m->shared_ffn_dim = 0;
}

/* The loader against checkpoints the test writes: F32 comes back bit for
 * bit (one file, or a folder), F16 within half precision; DeepSeek's merged
 * shared-expert MLP is split into its experts. */
START_TEST(safetensors_checkpoints_load)
{
    model_desc m;
    mini_plain(&m);
    exec_weights w, back;
    promoe_err err = {{0}};
    ck_assert_int_eq(exec_weights_synthetic(&m, 3, &w, &err), 0);
    ck_assert_msg(exec_weights_save(&w, tu_path("ck.safetensors"), 0, &err) == 0, "%s", err.msg);
    ck_assert_msg(exec_weights_load(&m, tu_path("ck.safetensors"), &back, &err) == 0, "%s",
                  err.msg);
    ck_assert_mem_eq(back.arena, w.arena, w.floats * sizeof(float));
    exec_weights_free(&back);
    /* a folder holding the file: the same */
    char dir[1100], cmd[2400];
    snprintf(dir, sizeof dir, "%s", tu_path("ckdir"));
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/model-00001-of-00001.safetensors'", dir,
             tu_path("ck.safetensors"), dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_msg(exec_weights_load(&m, dir, &back, &err) == 0, "%s", err.msg);
    ck_assert_mem_eq(back.arena, w.arena, w.floats * sizeof(float));
    exec_weights_free(&back);
    ck_assert_int_eq(exec_weights_save(&w, tu_path("half.safetensors"), 1, &err), 0);
    ck_assert_int_eq(exec_weights_load(&m, tu_path("half.safetensors"), &back, &err), 0);
    for (size_t i = 0; i < w.floats; i++)
        ck_assert_msg(fabsf(back.arena[i] - w.arena[i]) <= 1e-3f * (1 + fabsf(w.arena[i])),
                      "float %zu: %g, saved %g", i, back.arena[i], w.arena[i]);
    exec_weights_free(&back);
    exec_weights_free(&w);

    /* DeepSeek's shared experts: 2 of width 16 stored as one MLP of 32 */
    model_desc ds;
    mini_model(&ds, 0);
    ds.num_shared_experts = 2;
    ck_assert_int_eq(exec_weights_synthetic(&ds, 4, &w, &err), 0);
    ck_assert_int_eq(exec_weights_save(&w, tu_path("ds.safetensors"), 0, &err), -1);
    ck_assert_msg(strstr(err.msg, "saving 2 shared experts is not built"), "%s", err.msg);
    /* the plain part from a model without them, the merged MLP added */
    model_desc plain = ds;
    plain.num_shared_experts = 0;
    exec_weights pw;
    ck_assert_int_eq(exec_weights_alloc(&plain, &pw, &err), 0);
    memcpy(pw.embed, w.embed, 50 * 32 * sizeof(float));
    for (int l = 0; l < 3; l++) {
        exec_layer_weights *a = &pw.layers[l], *b = &w.layers[l];
        memcpy(a->attn_norm, b->attn_norm, (size_t)(b->shared - b->attn_norm) * sizeof(float));
    }
    memcpy(pw.final_norm, w.final_norm, 32 * sizeof(float));
    memcpy(pw.lm_head, w.lm_head, 50 * 32 * sizeof(float));
    ck_assert_int_eq(exec_weights_save(&pw, tu_path("plain.safetensors"), 0, &err), 0);
    st_file f;
    ck_assert_int_eq(st_open(tu_path("plain.safetensors"), &f, &err), 0);
    st_out out[80 + 9];
    int n = 0;
    ck_assert_int_le(f.count, 80);
    static float merged[3][3][32 * 32]; /* [layer][part] */
    char names[80 + 9][96];
    for (int i = 0; i < f.count; i++) {
        const st_tensor *t = &f.tensors[i];
        static float copies[80][50 * 32];
        st_tensor_floats(t, copies[n]);
        snprintf(names[n], sizeof names[n], "%s", t->name);
        out[n] = (st_out){names[n], copies[n], t->rank, {t->shape[0], t->shape[1]}};
        n++;
    }
    for (int l = 0; l < 3; l++) {
        const float *sh = w.layers[l].shared; /* [2][3][16 * 32] */
        for (int s = 0; s < 2; s++)
            for (int r = 0; r < 16; r++)
                for (int c = 0; c < 32; c++) {
                    merged[l][0][(s * 16 + r) * 32 + c] = sh[s * 3 * 512 + r * 32 + c];
                    merged[l][1][(s * 16 + r) * 32 + c] = sh[s * 3 * 512 + 512 + r * 32 + c];
                    merged[l][2][c * 32 + s * 16 + r] = sh[s * 3 * 512 + 1024 + c * 16 + r];
                }
        static const char *const part[3] = {"gate_proj", "up_proj", "down_proj"};
        for (int p = 0; p < 3; p++) {
            snprintf(names[n], sizeof names[n], "model.layers.%d.mlp.shared_experts.%s.weight", l,
                     part[p]);
            out[n] = (st_out){names[n], merged[l][p], 2, {32, 32}};
            n++;
        }
    }
    ck_assert_int_eq(st_write(tu_path("ds.safetensors"), out, n, ST_F32, &err), 0);
    st_close(&f);
    ck_assert_msg(exec_weights_load(&ds, tu_path("ds.safetensors"), &back, &err) == 0, "%s",
                  err.msg);
    ck_assert_mem_eq(back.arena, w.arena, w.floats * sizeof(float));
    exec_weights_free(&back);
    exec_weights_free(&pw);
    exec_weights_free(&w);
}
END_TEST

/* Damaged or foreign checkpoints: one-line errors naming the problem. */
START_TEST(bad_checkpoints_are_refused)
{
    model_desc m;
    mini_plain(&m);
    exec_weights w, back;
    promoe_err err = {{0}};
    ck_assert_int_eq(exec_weights_synthetic(&m, 3, &w, &err), 0);
    ck_assert_int_eq(exec_weights_save(&w, tu_path("ok.safetensors"), 0, &err), 0);
    struct { const char *cmd, *want; } cases[] = {
        /* the data cut short: offsets beyond what is left */
        {"head -c 100000 '%s' > '%s'", "outside the"},
        /* the header length itself cut */
        {"head -c 1000 '%s' > '%s'", "(not safetensors, or truncated)"},
        {"printf 'hello' > '%2$s' # %1$s", "not a safetensors file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[3000];
        snprintf(cmd, sizeof cmd, cases[i].cmd, tu_path("ok.safetensors"), tu_path("bad.safetensors"));
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(exec_weights_load(&m, tu_path("bad.safetensors"), &back, &err), -1);
        ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: %s", i, err.msg);
        ck_assert(!strchr(err.msg, '\n'));
    }
    /* another model's shapes */
    model_desc wider = m;
    wider.expert_ffn_dim = 32;
    ck_assert_int_eq(exec_weights_load(&wider, tu_path("ok.safetensors"), &back, &err), -1);
    ck_assert_msg(strstr(err.msg, "experts.0.w1.weight has shape [24, 32], the model needs [32, 32]"),
                  "%s", err.msg);
    /* a query norm of a width no family has, and a missing tensor */
    float norm[32] = {0};
    st_out extra[2] = {{"model.layers.0.self_attn.q_norm.weight", norm, 1, {5}},
                       {"model.norm.weight", norm, 1, {32}}};
    ck_assert_int_eq(st_write(tu_path("odd.safetensors"), extra, 2, ST_F32, &err), 0);
    ck_assert_int_eq(exec_weights_load(&m, tu_path("odd.safetensors"), &back, &err), -1);
    ck_assert_msg(strstr(err.msg, "a query norm of 5 floats is neither per head (8) nor over the "
                                  "projection (32)"), "%s", err.msg);
    ck_assert_int_eq(st_write(tu_path("partial.safetensors"), extra + 1, 1, ST_F32, &err), 0);
    ck_assert_int_eq(exec_weights_load(&m, tu_path("partial.safetensors"), &back, &err), -1);
    ck_assert_msg(strstr(err.msg, "no tensor model.embed_tokens.weight"), "%s", err.msg);
    ck_assert_int_eq(exec_weights_load(&m, tu_path("absent.safetensors"), &back, &err), -1);
    ck_assert_msg(strstr(err.msg, "no such file or folder"), "%s", err.msg);
    exec_weights_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("executor (CPU)");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rmsnorm_rope_route_by_hand);
    tcase_add_test(tc, steps_match_a_second_implementation);
    tcase_add_test(tc, family_extras_match_the_reference);
    tcase_add_test(tc, weights_are_deterministic_and_sized);
    tcase_add_test(tc, recorded_trace_is_what_the_model_did);
    tcase_add_test(tc, every_system_replays_its_decisions);
    tcase_add_test(tc, safetensors_checkpoints_load);
    tcase_add_test(tc, bad_checkpoints_are_refused);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
