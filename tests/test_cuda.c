/* The cuda backend against the cpu backend, where a GPU is present: the
 * same model (weights rounded to fp16, so that only the arithmetic
 * differs) gives the same experts at every layer and logits within a
 * stated tolerance; offloaded, with prefetching, it generates what the
 * resident model does, and its events replay to the same decisions.
 * Skips (77) when this build has no CUDA or the
 * machine no GPU.  The GPU is probed in a child process, so that this one
 * holds no CUDA context when Check forks a child for each test (a context
 * does not survive a fork: the first GPU run of the suite failed so). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/backend.h"
#include "exec/cpu_model.h"
#include "exec/cuda_probe.h"
#include "exec/generate.h"
#include "offload/event_log.h"
#include "tests/testutil.h"
#include "traces/trace.h"

/* Logits may differ by this share of the largest logit (fp32 sums in
 * another order, fp16 activations into the GEMMs). */
#define LOGIT_TOLERANCE 1e-2

START_TEST(saxpy_runs_on_the_gpu)
{
    char name[256] = "";
    promoe_err err = {{0}};
    ck_assert_msg(exec_cuda_selftest(1 << 20, name, sizeof name, &err) == 0, "%s", err.msg);
}
END_TEST

/* A model with a shared expert (d 64, 4 heads over 2 KV heads). */
static void mini_model(model_desc *m)
{
    const char *text =
        "[model]\nname = mini\nnum_layers = 3\nnum_experts = 8\ntop_k = 2\nhidden_size = 64\n"
        "expert_ffn_dim = 96\nnum_shared_experts = 1\nshared_ffn_dim = 48\nnum_heads = 4\n"
        "num_kv_heads = 2\nhead_dim = 16\nvocab_size = 128\nbits_per_weight = 16\n"
        "norm_topk_prob = 0\nrope_theta = 1000000\nrms_norm_eps = 1e-5\n";
    promoe_err err = {{0}};
    ck_assert_msg(model_load(tu_write_file("mini.ini", text), m, &err) == 0, "%s", err.msg);
}

/* Every weight rounded to fp16, as the cuda backend holds them. */
static void round_weights(exec_weights *w)
{
    trace_round_stored(w->arena, w->floats);
    const model_desc *m = &w->model;
    for (int l = 0; l < m->num_layers; l++) {
        exec_layer_weights *y = &w->layers[l];
        if (y->shared_gate)
            trace_round_stored(y->shared_gate, (size_t)m->hidden_size);
    }
}

/* Steps both backends through the same tokens. */
static void compare_backends(const exec_weights *w)
{
    enum { P = 12 };
    const int tokens[P] = {3, 17, 42, 0, 99, 8, 8, 120, 5, 64, 1, 2};
    const model_desc *m = &w->model;
    promoe_err found = {{0}};
    const exec_backend_ops *cpu = exec_backend_find("cpu", &found);
    const exec_backend_ops *cuda = exec_backend_find("cuda", &found);
    ck_assert_msg(cpu && cuda, "%s", found.msg);
    ck_assert_ptr_nonnull(cuda);
    promoe_err err = {{0}};
    void *a = cpu->create(w, P, 0, &err), *b = cuda->create(w, P, 0, &err);
    ck_assert_msg(a && b, "%s", err.msg);
    size_t n = (size_t)P * m->num_layers * m->top_k;
    int *ea = calloc(n, sizeof *ea), *eb = calloc(n, sizeof *eb);
    float *la = malloc((size_t)m->vocab_size * sizeof *la);
    float *lb = malloc((size_t)m->vocab_size * sizeof *lb);
    tu_expert_log ca = {m->num_layers, m->top_k, 0, ea}, cb = {m->num_layers, m->top_k, 0, eb};
    for (int t = 0; t < P; t++) {
        int32_t token = tokens[t] % m->vocab_size;
        ca.pos = cb.pos = t;
        ck_assert_msg(cpu->step(a, &token, 1, t, la, tu_log_experts, &ca, &err) == 0, "%s",
                      err.msg);
        ck_assert_msg(cuda->step(b, &token, 1, t, lb, tu_log_experts, &cb, &err) == 0, "%s",
                      err.msg);
        double worst = 0, scale = 0;
        for (int i = 0; i < m->vocab_size; i++) {
            worst = fmax(worst, fabs((double)la[i] - lb[i]));
            scale = fmax(scale, fabs((double)la[i]));
        }
        ck_assert_msg(worst <= LOGIT_TOLERANCE * scale, "%s position %d: logits differ by %g "
                      "(largest %g)", m->name, t, worst, scale);
    }
    ck_assert_mem_eq(ea, eb, n * sizeof *ea);
    cpu->destroy(a);
    cuda->destroy(b);
    free(ea);
    free(eb);
    free(la);
    free(lb);
}

START_TEST(cuda_matches_cpu)
{
    model_desc m;
    promoe_err err = {{0}};
    exec_weights w;
    ck_assert_int_eq(model_load("tiny", &m, &err), 0);
    ck_assert_int_eq(exec_weights_synthetic(&m, 1, &w, &err), 0);
    round_weights(&w);
    compare_backends(&w);
    exec_weights_free(&w);
    /* a shared expert, its gate, attention biases and query/key norms
     * over the projection (OLMoE) or per head */
    mini_model(&m);
    for (int per_head = 0; per_head <= 1; per_head++) {
        ck_assert_int_eq(exec_weights_synthetic(&m, 2, &w, &err), 0);
        int width = per_head ? m.head_dim : m.num_heads * m.head_dim;
        ck_assert_int_eq(exec_weights_add_extras(&w, EXEC_QK_NORM | EXEC_QKV_BIAS |
                                                         EXEC_SHARED_GATE, width, &err), 0);
        int kw = per_head ? m.head_dim : m.num_kv_heads * m.head_dim;
        for (int l = 0; l < m.num_layers; l++) {
            exec_layer_weights *y = &w.layers[l];
            for (int i = 0; i < width; i++)
                y->q_norm[i] = 1.0f + 0.01f * (float)(i % 7);
            for (int i = 0; i < kw; i++)
                y->k_norm[i] = 1.0f - 0.01f * (float)(i % 5);
            for (int i = 0; i < 64; i++)
                y->bq[i] = 0.02f * (float)(i % 9) - 0.08f;
            for (int i = 0; i < 32; i++)
                y->bk[i] = y->bv[i] = 0.01f * (float)(i % 4);
            for (int i = 0; i < 64; i++)
                y->shared_gate[i] = 0.05f * (float)(i % 11) - 0.25f;
        }
        round_weights(&w);
        trace_round_stored(w.extras, (size_t)m.num_layers * (size_t)(width + kw + 128 + 64));
        compare_backends(&w);
        exec_weights_free(&w);
    }
}
END_TEST

START_TEST(offloaded_cuda_runs_like_resident)
{
    model_desc m;
    promoe_err err = {{0}};
    exec_weights w;
    ck_assert_int_eq(model_load("tiny", &m, &err), 0);
    ck_assert_int_eq(exec_weights_synthetic(&m, 3, &w, &err), 0);
    int32_t ids[2][6] = {{1, 2, 3, 4, 5, 6}, {200, 100, 50}};
    exec_prompt prompts[2] = {{ids[0], 6}, {ids[1], 3}};
    const exec_backend_ops *cuda = exec_backend_find("cuda", &err);
    ck_assert_msg(cuda != NULL, "%s", err.msg);
    exec_gen_config resident = {.backend = cuda, .max_new = 10};
    exec_gen_result r0, r1;
    ck_assert_msg(exec_generate(&w, prompts, 2, &resident, &r0, &err) == 0, "%s", err.msg);
    /* promoe's machinery: prediction (gate reuse), 3 chunks, preemption,
     * reordering, a per-layer LRU of half the experts */
    float *routers = exec_weights_routers(&w);
    trace_round_stored(routers, 4 * 8 * 64);
    const predictor_ops *pops = predictor_find("gate-reuse");
    predictor_env env = {.num_layers = 4, .num_experts = 8, .top_k = 2, .hidden_dim = 64,
                         .stride_lo = 1, .stride_hi = 1, .seed = 1, .router_weight = routers};
    void *pst = pops->create(&env, "", &err);
    ck_assert_ptr_nonnull(pst);
    offload_log log = {0};
    exec_gen_config off = {.backend = cuda, .max_new = 10, .pops = pops, .pst = pst, .log = &log,
                           .offload = {.slots = 16, .policy = "lru", .per_layer = 1,
                                       .stride = 1, .chunks = 3, .preempt = 1, .reorder = 1}};
    ck_assert_msg(exec_generate(&w, prompts, 2, &off, &r1, &err) == 0, "%s", err.msg);
    ck_assert_mem_eq(r0.output, r1.output, 2 * 10 * sizeof *r0.output);
    const offload_counts *n = &r1.offload.counts;
    ck_assert_int_gt(n->prefetch_issued, 0);
    /* every copy asked for ends copied or withdrawn, but the last predictions' */
    ck_assert_int_ge(r1.offload.store.copies, n->misses);
    ck_assert_int_le(r1.offload.store.copies + r1.offload.store.withdrawn,
                     n->misses + n->prefetch_issued);
    /* the run's events, replayed with no clock, make the same decisions */
    uint64_t replayed;
    ck_assert_msg(offload_log_replay(&log, &off.offload, 4, 8, 2, NULL, &replayed, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(replayed, r1.offload.digest);
    offload_log_free(&log);
    pops->destroy(pst);
    free(routers);
    free(r0.output);
    free(r1.output);
    exec_weights_free(&w);
}
END_TEST

/* exec_cuda_selftest in a child process: its answer (0, 1 or -1, as the
 * self-test's) and the GPU's name or the reason into what. */
static int probe_in_child(char *what, size_t len)
{
    int fd[2];
    if (pipe(fd) < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        char name[256] = "";
        promoe_err err = {{0}};
        int rc = exec_cuda_selftest(1024, name, sizeof name, &err);
        const char *say = rc == 0 ? name : err.msg;
        ssize_t w = write(fd[1], say, strlen(say));
        _exit(w < 0 ? 3 : rc == 0 ? 0 : rc == 1 ? 1 : 2);
    }
    close(fd[1]);
    ssize_t n = pid > 0 ? read(fd[0], what, len - 1) : -1;
    what[n > 0 ? n : 0] = '\0';
    close(fd[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status) == 0 ? 0 : WEXITSTATUS(status) == 1 ? 1 : -1;
}

int main(void)
{
    char name[512] = "";
    if (!exec_cuda_built()) {
        printf("SKIP: this build has no CUDA\n");
        return 77;
    }
    int probe = probe_in_child(name, sizeof name);
    if (probe == 1) {
        printf("SKIP: %s\n", name);
        return 77;
    }
    if (probe < 0) {
        printf("FAIL: the GPU self-test: %s\n", name);
        return EXIT_FAILURE;
    }
    printf("GPU: %s\n", name);
    Suite *s = suite_create("cuda backend");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, saxpy_runs_on_the_gpu);
    tcase_add_test(tc, cuda_matches_cpu);
    tcase_add_test(tc, offloaded_cuda_runs_like_resident);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
