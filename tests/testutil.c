#include "tests/testutil.h"

#include "traces/trace_gen.h"
#include "traces/trace_import.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tu_dir(void)
{
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/promoe-test-XXXXXX",
                 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(99);
        }
    }
    return dir;
}

const char *tu_path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tu_dir(), name);
    return b;
}

const char *tu_write_file(const char *name, const char *text)
{
    const char *p = tu_path(name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static const char *import_file(const char *format, const char *in, const char *name, int experts,
                               int layers)
{
    char out[128];
    snprintf(out, sizeof out, "%s.h5", name);
    trace_import_opts o;
    trace_import_defaults(&o);
    o.num_experts = experts;
    o.num_layers = layers;
    promoe_err err = {{0}};
    const char *path = tu_path(out);
    ck_assert_msg(trace_import_file(format, &o, in, path, NULL, &err) == 0, "%s", err.msg);
    return path;
}

const char *tu_import_text(const char *format, const char *name, const char *text, int experts,
                           int layers)
{
    char in[128];
    snprintf(in, sizeof in, "%s.%s", name, strcmp(format, "csv") == 0 ? "csv" : "jsonl");
    return import_file(format, tu_write_file(in, text), name, experts, layers);
}

const char *tu_import_olmoe(void)
{
    char in[1024];
    snprintf(in, sizeof in, "%s/olmoe-1b-7b-decode-299.jsonl", tu_shared_data());
    return import_file("warp-jsonl", in, "olmoe", 64, 0);
}

const char *tu_shared_data(void)
{
    const char *d = getenv("PROMOE_SHARED_DATA");
    struct stat st;
    return d && stat(d, &st) == 0 && S_ISDIR(st.st_mode) ? d : NULL;
}

const char *tu_src_path(const char *name)
{
    static char path[1200];
    const char *d = getenv("PROMOE_SRCDIR");
    snprintf(path, sizeof path, "%s/%s", d && *d ? d : ".", name);
    return path;
}

int tu_leftover_tmp(void)
{
    DIR *d = opendir(tu_dir());
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            found = 1;
    if (d)
        closedir(d);
    return found;
}

static void remove_dir(void)
{
    DIR *d = opendir(tu_dir());
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            unlink(tu_path(e->d_name));
    if (d)
        closedir(d);
    rmdir(tu_dir());
}

int tu_run(Suite *s)
{
    tu_dir(); /* made before forking, so every test shares it */
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_dir();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int tu_run_with_shared(Suite *s, const TTest *test, const char *what)
{
    if (!tu_shared_data()) {
        fprintf(stderr, "../shared/data is absent: %s cannot be checked\n", what);
        int rc = tu_run(s);
        return rc ? rc : 77;
    }
    TCase *real = tcase_create("shared data");
    tcase_add_test(real, test);
    suite_add_tcase(s, real);
    return tu_run(s);
}

#define GROW(ptr, n, extra) ck_assert_ptr_nonnull(ptr = realloc(ptr, ((n) + (extra)) * sizeof *ptr))

void tu_trace_load(const char *path, tu_trace *t)
{
    memset(t, 0, sizeof *t);
    promoe_err err = {{0}};
    trace_meta meta;
    ck_assert_msg(trace_read_meta(path, &meta, &err) == 0, "%s", err.msg);
    trace_reader *r = trace_reader_open(path, meta.content & TRACE_WEIGHTS, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    t->meta = *trace_reader_meta(r);
    size_t lk = (size_t)meta.num_layers * meta.top_k;
    trace_iteration it;
    int got;
    while ((got = trace_read_iteration(r, &it, &err)) > 0) {
        size_t n = t->n, k = it.num_tokens;
        GROW(t->request, n, k);
        GROW(t->position, n, k);
        GROW(t->iteration, n, k);
        GROW(t->phase, n, k);
        GROW(t->experts, n * lk, k * lk);
        memcpy(t->request + n, it.request, k * sizeof *t->request);
        memcpy(t->position + n, it.position, k * sizeof *t->position);
        memcpy(t->phase + n, it.phase, k);
        for (size_t i = 0; i < k; i++)
            t->iteration[n + i] = it.id;
        memcpy(t->experts + n * lk, it.experts, k * lk * sizeof *t->experts);
        if (it.weights) {
            GROW(t->weights, n * lk, k * lk);
            memcpy(t->weights + n * lk, it.weights, k * lk * sizeof *t->weights);
        }
        t->n += k;
    }
    ck_assert_msg(got == 0, "%s", err.msg);
    trace_reader_close(r);
}

void tu_trace_free(tu_trace *t)
{
    free(t->request);
    free(t->position);
    free(t->iteration);
    free(t->phase);
    free(t->experts);
    free(t->weights);
}

void tu_trace_assert_same(const tu_trace *a, const tu_trace *b)
{
    ck_assert_int_eq(a->n, b->n);
    ck_assert_int_eq(a->meta.num_layers, b->meta.num_layers);
    ck_assert_int_eq(a->meta.num_experts, b->meta.num_experts);
    ck_assert_int_eq(a->meta.top_k, b->meta.top_k);
    size_t lk = (size_t)a->meta.num_layers * a->meta.top_k;
    ck_assert(memcmp(a->request, b->request, a->n * sizeof *a->request) == 0);
    ck_assert(memcmp(a->position, b->position, a->n * sizeof *a->position) == 0);
    ck_assert(memcmp(a->phase, b->phase, a->n) == 0);
    ck_assert(memcmp(a->iteration, b->iteration, a->n * sizeof *a->iteration) == 0);
    ck_assert(memcmp(a->experts, b->experts, a->n * lk * sizeof *a->experts) == 0);
    ck_assert((a->weights == NULL) == (b->weights == NULL));
    if (a->weights)
        ck_assert(memcmp(a->weights, b->weights, a->n * lk * sizeof *a->weights) == 0);
}

void tu_unit_cost(cost_model *c)
{
    promoe_err err = {{0}};
    const char *model = tu_write_file("unit-model.ini",
        "[model]\nname = unit\nnum_layers = 2\nnum_experts = 4\ntop_k = 1\nhidden_size = 10\n"
        "expert_ffn_dim = 10\nnum_heads = 1\nnum_kv_heads = 1\nhead_dim = 10\nvocab_size = 10\n"
        "bits_per_weight = 16\nnorm_topk_prob = 1\n");
    const char *hw = tu_write_file("unit-hw.ini",
        "[hardware]\nname = unit\ngpu_tflops = 1000000\ngpu_mem_gbps = 1\ngpu_mem_gib = 1\n"
        "gpu_op_us = 0\npcie_gbps = 0.5\npcie_latency_us = 0\ncpu_gflops = 1\ncpu_mem_gbps = 1\n");
    ck_assert_msg(model_load(model, &c->model, &err) == 0, "%s", err.msg);
    ck_assert_msg(hw_load(hw, &c->hw, &err) == 0, "%s", err.msg);
}

const char *tu_gen_mixtral_with(const char *name, int requests, int prompt_mean,
                                int output_mean, int hidden, unsigned long token_seed,
                                unsigned content)
{
    model_desc m;
    promoe_err err = {{0}};
    ck_assert_msg(model_load("mixtral-8x7b", &m, &err) == 0, "%s", err.msg);
    trace_gen_params g;
    trace_gen_defaults(&g);
    g.num_requests = requests;
    g.prompt_mean = prompt_mean;
    g.output_mean = output_mean;
    g.hidden_dim = hidden;
    g.token_seed = token_seed;
    g.content = content;
    const char *t = tu_path(name);
    ck_assert_msg(trace_gen_write(&g, &m, t, NULL, &err) == 0, "%s", err.msg);
    return t;
}

const char *tu_gen_mixtral(const char *name, int requests, int prompt_mean, int output_mean,
                           int hidden, unsigned long token_seed)
{
    return tu_gen_mixtral_with(name, requests, prompt_mean, output_mean, hidden, token_seed,
                               TRACE_HIDDEN | TRACE_ROUTER_WEIGHT);
}

int tu_log_experts(void *ctx, const exec_routing *r, promoe_err *err)
{
    (void)err;
    tu_expert_log *log = ctx;
    for (int t = 0; t < r->tokens; t++)
        memcpy(log->experts + ((size_t)(log->pos + t) * log->L + r->layer) * log->K,
               r->experts + (size_t)t * log->K, (size_t)log->K * sizeof(int));
    return 0;
}
