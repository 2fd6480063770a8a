/* Importers and exporters: hand-made inputs with known contents, the
 * lossless import -> export -> import round trip, and every error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "common/lazylib.h"
#include "common/safetensors.h"
#include "models/model.h"
#include "tests/testutil.h"
#include "traces/trace_export.h"
#include "traces/trace_gen.h"
#include "traces/trace_import.h"

static int import(const char *format, const char *in, const char *out, int experts,
                  trace_build_report *rep, promoe_err *err, const char **fields, int nfields)
{
    trace_import_opts o;
    trace_import_defaults(&o);
    o.num_experts = experts;
    for (int i = 0; i < nfields; i++)
        ck_assert_int_eq(trace_import_map_field(&o, fields[i], err), 0);
    return trace_import_file(format, &o, in, out, rep, err);
}

START_TEST(warp_jsonl_keeps_order_and_positions)
{
    const char *in = tu_write_file("w.jsonl",
        "{\"tok\": 1, \"layers\": [[5, 2], [0, 7]]}\n"
        "\n"
        "{\"tok\": 2, \"layers\": [[2, 3], [7, 1]]}\n");
    promoe_err err = {{0}};
    trace_build_report rep;
    ck_assert_msg(import("warp-jsonl", in, tu_path("w.h5"), 8, &rep, &err, NULL, 0) == 0, "%s", err.msg);
    ck_assert_int_eq(rep.records, 4);
    ck_assert_int_eq(rep.tokens, 2);
    ck_assert_int_eq(rep.iterations, 2);
    ck_assert_int_eq(rep.missing, 0);
    tu_trace t;
    tu_trace_load(tu_path("w.h5"), &t);
    ck_assert_int_eq(t.meta.num_layers, 2);
    ck_assert_int_eq(t.meta.top_k, 2);
    ck_assert_int_eq(t.meta.num_experts, 8);
    int16_t want[] = {5, 2, 0, 7, 2, 3, 7, 1};
    ck_assert(memcmp(t.experts, want, sizeof want) == 0);
    ck_assert_int_eq(t.position[0], 1);
    ck_assert_int_eq(t.position[1], 2);
    ck_assert_int_eq(t.phase[0], 1);
    ck_assert_ptr_null(t.weights);
    tu_trace_free(&t);
    /* a layer written [] is missing, as one a short line leaves out (issue
     * 20): each stored as -1 and counted once */
    in = tu_write_file("w2.jsonl", "{\"tok\": 1, \"layers\": [[5, 2], [0, 7], [1, 3]]}\n"
                                   "{\"tok\": 2, \"layers\": [[2, 3], []]}\n");
    ck_assert_msg(import("warp-jsonl", in, tu_path("w2.h5"), 8, &rep, &err, NULL, 0) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(rep.records, 4);
    ck_assert_int_eq(rep.missing, 2);
    tu_trace_load(tu_path("w2.h5"), &t);
    ck_assert_int_eq(t.meta.num_layers, 3);
    int16_t want2[] = {5, 2, 0, 7, 1, 3, 2, 3, -1, -1, -1, -1};
    ck_assert(memcmp(t.experts, want2, sizeof want2) == 0);
    tu_trace_free(&t);
}
END_TEST

/* Two requests, records shuffled, vLLM-style key names; one (token, layer)
 * missing. */
static const char *mapped_jsonl =
    "{\"req\": 9, \"token_idx\": 3, \"phase\": \"decode\", \"layer\": 1, \"experts\": [3, 0], \"gating_probs\": [0.75, 0.25]}\n"
    "{\"req\": 4, \"token_idx\": 0, \"phase\": \"prefill\", \"layer\": 0, \"experts\": [1, 2], \"gating_probs\": [0.5, 0.5]}\n"
    "{\"req\": 4, \"token_idx\": 1, \"phase\": \"prefill\", \"layer\": 0, \"experts\": [2, 3], \"gating_probs\": [0.625, 0.375]}\n"
    "{\"req\": 4, \"token_idx\": 0, \"phase\": \"prefill\", \"layer\": 1, \"experts\": [0, 1], \"gating_probs\": [0.875, 0.125]}\n"
    "{\"req\": 4, \"token_idx\": 1, \"phase\": \"prefill\", \"layer\": 1, \"experts\": [0, 3], \"gating_probs\": [0.5, 0.5]}\n"
    "{\"req\": 4, \"token_idx\": 2, \"phase\": \"decode\", \"layer\": 0, \"experts\": [3, 1], \"gating_probs\": [0.5, 0.5]}\n"
    "{\"req\": 4, \"token_idx\": 2, \"phase\": \"decode\", \"layer\": 1, \"experts\": [1, 2], \"gating_probs\": [0.5, 0.5]}\n"
    "{\"req\": 9, \"token_idx\": 3, \"phase\": \"decode\", \"layer\": 0, \"experts\": [2, 1], \"gating_probs\": [0.5, 0.5]}\n"
    "{\"req\": 9, \"token_idx\": 2, \"phase\": \"prefill\", \"layer\": 0, \"experts\": [0, 2], \"gating_probs\": [0.5, 0.5]}\n";

START_TEST(jsonl_field_mapping_and_iterations)
{
    const char *in = tu_write_file("m.jsonl", mapped_jsonl);
    const char *fields[] = {"request=req", "token=token_idx", "weights=gating_probs"};
    promoe_err err = {{0}};
    trace_build_report rep;
    ck_assert_msg(import("jsonl", in, tu_path("m.h5"), 4, &rep, &err, fields, 3) == 0, "%s", err.msg);
    ck_assert_int_eq(rep.tokens, 5);
    ck_assert_int_eq(rep.requests, 2);
    ck_assert_int_eq(rep.missing, 1); /* request 9 token 2 lacks layer 1 */
    /* request 4: prefill {0,1} = iteration 0, decode 2 = 1; request 9:
     * prefill {2} = 2, decode 3 = 3 */
    ck_assert_int_eq(rep.iterations, 4);
    tu_trace t;
    tu_trace_load(tu_path("m.h5"), &t);
    int32_t req[] = {4, 4, 4, 9, 9}, pos[] = {0, 1, 2, 2, 3}, it[] = {0, 0, 1, 2, 3};
    uint8_t ph[] = {0, 0, 1, 0, 1};
    ck_assert(memcmp(t.request, req, sizeof req) == 0);
    ck_assert(memcmp(t.position, pos, sizeof pos) == 0);
    ck_assert(memcmp(t.iteration, it, sizeof it) == 0);
    ck_assert(memcmp(t.phase, ph, sizeof ph) == 0);
    int16_t ex[] = {1, 2, 0, 1, 2, 3, 0, 3, 3, 1, 1, 2, 0, 2, -1, -1, 2, 1, 3, 0};
    ck_assert(memcmp(t.experts, ex, sizeof ex) == 0);
    ck_assert(t.weights[1] == 0.5f && t.weights[2] == 0.875f && t.weights[18] == 0.75f);
    tu_trace_free(&t);
}
END_TEST

START_TEST(csv_matches_jsonl)
{
    /* the same routing as mapped_jsonl, as long-form CSV, columns shuffled */
    const char *in = tu_write_file("m.csv",
        "token,request,phase,layer,rank,expert,weight\n"
        "0,4,prefill,0,0,1,0.5\n0,4,prefill,0,1,2,0.5\n"
        "0,4,prefill,1,1,1,0.125\n0,4,prefill,1,0,0,0.875\n"
        "1,4,prefill,0,0,2,0.625\n1,4,prefill,0,1,3,0.375\n"
        "1,4,prefill,1,0,0,0.5\n1,4,prefill,1,1,3,0.5\n"
        "2,4,decode,0,0,3,0.5\n2,4,decode,0,1,1,0.5\n"
        "2,4,decode,1,0,1,0.5\n2,4,decode,1,1,2,0.5\n"
        "2,9,prefill,0,0,0,0.5\n2,9,prefill,0,1,2,0.5\n"
        "3,9,decode,0,0,2,0.5\n3,9,decode,0,1,1,0.5\n"
        "3,9,decode,1,0,3,0.75\n3,9,decode,1,1,0,0.25\n");
    promoe_err err = {{0}};
    trace_build_report rep;
    ck_assert_msg(import("csv", in, tu_path("c.h5"), 4, &rep, &err, NULL, 0) == 0, "%s", err.msg);
    const char *fields[] = {"request=req", "token=token_idx", "weights=gating_probs"};
    ck_assert_int_eq(import("jsonl", tu_write_file("m2.jsonl", mapped_jsonl), tu_path("m2.h5"), 4,
                            &rep, &err, fields, 3), 0);
    tu_trace a, b;
    tu_trace_load(tu_path("c.h5"), &a);
    tu_trace_load(tu_path("m2.h5"), &b);
    tu_trace_assert_same(&a, &b);
    tu_trace_free(&a);
    tu_trace_free(&b);
}
END_TEST

START_TEST(export_import_round_trip_is_lossless)
{
    /* a synthetic trace with gate weights, exported and re-imported through
     * both text formats, gives the same tokens, experts and weights */
    model_desc m;
    promoe_err err = {{0}};
    ck_assert_msg(model_load("olmoe-1b-7b", &m, &err) == 0, "%s", err.msg);
    trace_gen_params g;
    trace_gen_defaults(&g);
    g.num_requests = 3;
    g.prompt_mean = 20;
    g.output_mean = 30;
    g.hidden_dim = 8;
    g.content = TRACE_WEIGHTS;
    const char *orig = tu_path("orig.h5");
    ck_assert_msg(trace_gen_write(&g, &m, orig, NULL, &err) == 0, "%s", err.msg);
    trace_build_report rep;
    ck_assert_msg(trace_export_file("jsonl", orig, tu_path("x.jsonl"), &err) == 0, "%s", err.msg);
    ck_assert_msg(import("jsonl", tu_path("x.jsonl"), tu_path("x1.h5"), 64, &rep, &err, NULL, 0) == 0,
                  "%s", err.msg);
    ck_assert_msg(trace_export_file("csv", tu_path("x1.h5"), tu_path("x.csv"), &err) == 0, "%s", err.msg);
    ck_assert_msg(import("csv", tu_path("x.csv"), tu_path("x2.h5"), 64, &rep, &err, NULL, 0) == 0,
                  "%s", err.msg);
    tu_trace a, b, c;
    tu_trace_load(orig, &a);
    tu_trace_load(tu_path("x1.h5"), &b);
    tu_trace_load(tu_path("x2.h5"), &c);
    ck_assert_int_gt(a.n, 50);
    tu_trace_assert_same(&a, &b);
    tu_trace_assert_same(&a, &c);
    tu_trace_free(&a);
    tu_trace_free(&b);
    tu_trace_free(&c);
}
END_TEST

/* Importing TEXT fails with "FILE:WANT" and leaves no output behind. */
static void assert_import_fails(const char *format, const char *text, int experts, const char *want)
{
    static int n;
    char name[64], out[64];
    snprintf(name, sizeof name, "bad%d.%s", n, format);
    snprintf(out, sizeof out, "bad%d.h5", n++);
    const char *in = tu_write_file(name, text);
    promoe_err err = {{0}};
    trace_build_report rep;
    ck_assert_int_eq(import(format, in, tu_path(out), experts, &rep, &err, NULL, 0), -1);
    char expect[1200];
    snprintf(expect, sizeof expect, "%s:%s", in, want);
    ck_assert_msg(strstr(err.msg, expect), "expected '%s' in: %s", expect, err.msg);
    struct stat st;
    ck_assert_int_ne(stat(tu_path(out), &st), 0);
    ck_assert(!tu_leftover_tmp());
}

/* With a model's shape given (-m), data of another shape is refused and
 * nothing is written; data of that shape imports. */
START_TEST(data_must_match_the_model)
{
    const char *in = tu_write_file("shape.jsonl", "{\"tok\": 0, \"layers\": [[1, 2], [3, 4]]}\n"
                                                  "{\"tok\": 1, \"layers\": [[5, 6], [7, 0]]}\n");
    const struct { int layers, top_k; const char *want; } cases[] = {
        {2, 2, NULL},
        {3, 2, "the data has 2 MoE layers but model m has 3 (is -m right?)"},
        {2, 1, "the data chooses up to 2 experts a layer but model m has top-k 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        trace_import_opts o;
        trace_import_defaults(&o);
        o.num_experts = 8;
        o.model = "m";
        o.model_layers = cases[i].layers;
        o.model_top_k = cases[i].top_k;
        promoe_err err = {{0}};
        trace_build_report rep;
        char out[32];
        snprintf(out, sizeof out, "shape%zu.h5", i);
        int rc = trace_import_file("warp-jsonl", &o, in, tu_path(out), &rep, &err);
        struct stat st;
        if (!cases[i].want) {
            ck_assert_msg(rc == 0, "%s", err.msg);
            ck_assert_int_eq(rep.seen.num_layers, 2);
            ck_assert_int_eq(rep.seen.top_k, 2);
            ck_assert_int_eq(rep.seen.max_expert, 7);
            continue;
        }
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(strstr(err.msg, cases[i].want), "expected '%s' in: %s", cases[i].want,
                      err.msg);
        ck_assert_int_ne(stat(tu_path(out), &st), 0);
    }
}
END_TEST

/* ---- hf-router-logits ---------------------------------------------------
 * Router logits whose softmax is known by hand: a row of logits
 * ln(4), ln(2), 0, 0 has probabilities 1/2, 1/4, 1/8, 1/8. */

#define LN2 0.69314718f
#define LN4 1.38629436f

/* The rows of two requests, 2:2 and 1:2 (prompt:output), two layers of 4
 * experts; `whole` adds the row a forward pass over the whole text has at
 * the end of each request, filled with a row that would pick expert 3. */
static int make_rows(float layer[2][8][4], int whole)
{
    static const float favourite[4][4] = {
        {LN4, LN2, 0, 0}, {0, LN4, LN2, 0}, {LN2, 0, LN4, 0}, {0, 0, LN2, LN4}};
    int n = 0, token = 0;
    const int tokens[2] = {3, 2};
    for (int r = 0; r < 2; r++) {
        for (int t = 0; t < tokens[r] + whole; t++, n++) {
            int last = t == tokens[r];
            for (int l = 0; l < 2; l++)
                memcpy(layer[l][n], favourite[last ? 3 : (token + l) % 3], sizeof layer[l][n]);
            token += !last;
        }
    }
    return n;
}

/* A .npy entry: the magic, version 1.0, a header padded to 64 bytes. */
static void add_npy(zip_t *z, const char *name, const char *descr, int rank, const int *shape,
                    const void *data, size_t bytes)
{
    char header[256], dims[64] = "";
    for (int i = 0; i < rank; i++)
        snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%d,%s", shape[i],
                 i + 1 < rank ? " " : "");
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, "
                     "'shape': (%s), }", descr, dims);
    while ((10 + n + 1) % 64)
        header[n++] = ' ';
    header[n++] = '\n';
    size_t total = 10 + (size_t)n + bytes;
    unsigned char *buf = malloc(total);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(n & 0xff);
    buf[9] = (unsigned char)(n >> 8);
    memcpy(buf + 10, header, (size_t)n);
    memcpy(buf + 10 + n, data, bytes);
    zip_source_t *src = zip_source_buffer(z, buf, total, 1);
    ck_assert_int_ge(zip_file_add(z, name, src, ZIP_FL_OVERWRITE), 0);
}

static const char *write_npz(const char *file, float layer[2][8][4], int rows,
                             const char *descr_of_layer1)
{
    const char *path = tu_path(file);
    int err = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    ck_assert_ptr_nonnull(z);
    int shape[2] = {rows, 4}, two = 2;
    int64_t prompt[2] = {2, 1}, output[2] = {2, 2};
    /* numpy.savez(f, *layers, ...) names the layers arr_0, arr_1 */
    add_npy(z, "arr_1.npy", descr_of_layer1, 2, shape, layer[1], (size_t)rows * 4 * sizeof(float));
    add_npy(z, "arr_0.npy", "<f4", 2, shape, layer[0], (size_t)rows * 4 * sizeof(float));
    add_npy(z, "prompt_lens.npy", "<i8", 1, &two, prompt, sizeof prompt);
    add_npy(z, "output_lens.npy", "<i8", 1, &two, output, sizeof output);
    ck_assert_int_eq(zip_close(z), 0);
    return path;
}

static int import_logits(const char *in, const char *out, const char *split, int norm,
                         trace_build_report *rep, promoe_err *err)
{
    trace_import_opts o;
    trace_import_defaults(&o);
    o.num_experts = 4;
    o.top_k = 2;
    o.norm_topk_prob = norm;
    o.split = split;
    return trace_import_file("hf-router-logits", &o, in, out, rep, err);
}

/* The trace of make_rows(), checked against the softmax by hand. */
static void check_logits_trace(const char *path, int norm)
{
    tu_trace t;
    tu_trace_load(path, &t);
    ck_assert_int_eq(t.meta.num_tokens, 5);
    ck_assert_int_eq(t.meta.num_layers, 2);
    int32_t req[] = {0, 0, 0, 1, 1}, pos[] = {0, 1, 2, 0, 1};
    uint8_t ph[] = {0, 0, 1, 0, 1};
    ck_assert(memcmp(t.request, req, sizeof req) == 0);
    ck_assert(memcmp(t.position, pos, sizeof pos) == 0);
    ck_assert(memcmp(t.phase, ph, sizeof ph) == 0);
    /* token n, layer l favours experts ((n+l)%3, then the next): tokens
     * are stored request by request as written */
    static const int16_t first[3][2] = {{0, 1}, {1, 2}, {2, 0}};
    for (int n = 0; n < 5; n++)
        for (int l = 0; l < 2; l++) {
            const int16_t *e = &t.experts[(n * 2 + l) * 2];
            const float *w = &t.weights[(n * 2 + l) * 2];
            ck_assert_int_eq(e[0], first[(n + l) % 3][0]);
            ck_assert_int_eq(e[1], first[(n + l) % 3][1]);
            ck_assert_float_eq_tol(w[0], norm ? 2.0f / 3 : 0.5f, 1e-6);
            ck_assert_float_eq_tol(w[1], norm ? 1.0f / 3 : 0.25f, 1e-6);
        }
    tu_trace_free(&t);
    trace_reader *r = trace_reader_open(path, 0, &(promoe_err){{0}});
    ck_assert_ptr_nonnull(r);
    const trace_request *q = trace_reader_requests(r);
    ck_assert_int_eq(q[0].prompt_len, 2);
    ck_assert_int_eq(q[0].output_len, 1); /* 2 new tokens: 1 decode token */
    ck_assert_int_eq(q[1].prompt_len, 1);
    ck_assert_int_eq(q[1].output_len, 1);
    trace_reader_close(r);
}

START_TEST(hf_router_logits_by_hand)
{
    float layer[2][8][4];
    promoe_err err = {{0}};
    trace_build_report rep;
    /* .npz as generation computed the rows, split in the file */
    int rows = make_rows(layer, 0);
    ck_assert_int_eq(rows, 5);
    const char *npz = write_npz("gen.npz", layer, rows, "<f4");
    ck_assert_msg(import_logits(npz, tu_path("npz.h5"), NULL, 0, &rep, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rep.records, 10);
    check_logits_trace(tu_path("npz.h5"), 0);
    /* safetensors (float16: these logits round to nearby values whose
     * softmax is within 1e-3) over the whole text, split given, renormalised */
    rows = make_rows(layer, 1);
    ck_assert_int_eq(rows, 7);
    st_out t[2] = {{"model.layers.1.mlp.gate", &layer[1][0][0], 2, {rows, 4}},
                   {"model.layers.0.mlp.gate", &layer[0][0][0], 2, {rows, 4}}};
    ck_assert_msg(st_write(tu_path("whole.safetensors"), t, 2, ST_F32, &err) == 0, "%s", err.msg);
    ck_assert_msg(import_logits(tu_path("whole.safetensors"), tu_path("st.h5"), "2:2,1:2", 1,
                                &rep, &err) == 0, "%s", err.msg);
    check_logits_trace(tu_path("st.h5"), 1);
    ck_assert_int_eq(tu_leftover_tmp(), 0);
}
END_TEST

/* Each refusal names the problem. */
START_TEST(hf_router_logits_errors)
{
    float layer[2][8][4];
    promoe_err err = {{0}};
    trace_build_report rep;
    int rows = make_rows(layer, 0);
    st_out t[2] = {{"layer.0", &layer[0][0][0], 2, {rows, 4}},
                   {"layer.1", &layer[1][0][0], 2, {rows, 4}}};
    ck_assert_int_eq(st_write(tu_path("l.safetensors"), t, 2, ST_F32, &err), 0);
    const char *st = tu_path("l.safetensors");
    static const struct { const char *split; int norm; const char *want; } cases[] = {
        {NULL, 0, "where do prompts end? give --split"},
        {"2:2,1:3", 0, "the logits hold 5 tokens, but the split needs 6 (as generated"},
        {"2:2,x", 0, "--split '2:2,x': expected PROMPT:OUTPUT"},
        {"2:0", 0, "expected PROMPT:OUTPUT"},
        {"2:2,1:2", -1, "the routing rule is unknown: name the model's preset"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(import_logits(st, tu_path("x.h5"), cases[i].split, cases[i].norm, &rep,
                                       &err), -1);
        ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: %s", i, err.msg);
    }
    /* names, shapes and the expert count */
    st_out unnamed[1] = {{"router", &layer[0][0][0], 2, {rows, 4}}};
    ck_assert_int_eq(st_write(tu_path("u.safetensors"), unnamed, 1, ST_F32, &err), 0);
    ck_assert_int_eq(import_logits(tu_path("u.safetensors"), tu_path("x.h5"), "2:2,1:2", 0, &rep,
                                   &err), -1);
    ck_assert_msg(strstr(err.msg, "tensor router has no layer number in its name"), "%s", err.msg);
    st_out twice[2] = {{"a.1", &layer[0][0][0], 2, {rows, 4}}, {"b.1", &layer[1][0][0], 2, {rows, 4}}};
    ck_assert_int_eq(st_write(tu_path("d.safetensors"), twice, 2, ST_F32, &err), 0);
    ck_assert_int_eq(import_logits(tu_path("d.safetensors"), tu_path("x.h5"), "2:2,1:2", 0, &rep,
                                   &err), -1);
    ck_assert_msg(strstr(err.msg, "both name layer 1"), "%s", err.msg);
    st_out wide[2] = {{"l0", &layer[0][0][0], 2, {rows, 4}}, {"l1", &layer[1][0][0], 2, {rows - 1, 4}}};
    ck_assert_int_eq(st_write(tu_path("s.safetensors"), wide, 2, ST_F32, &err), 0);
    ck_assert_int_eq(import_logits(tu_path("s.safetensors"), tu_path("x.h5"), "2:2,1:2", 0, &rep,
                                   &err), -1);
    ck_assert_msg(strstr(err.msg, "must cover the same tokens"), "%s", err.msg);
    trace_import_opts o;
    trace_import_defaults(&o);
    o.num_experts = 8;
    o.top_k = 2;
    o.norm_topk_prob = 0;
    o.split = "2:2,1:2";
    ck_assert_int_eq(trace_import_file("hf-router-logits", &o, tu_path("l.safetensors"),
                                       tu_path("x.h5"), &rep, &err), -1);
    ck_assert_msg(strstr(err.msg, "the logits score 4 experts but the model has 8"), "%s", err.msg);
    /* .npz: big-endian data, and a truncated archive */
    const char *npz = write_npz("be.npz", layer, rows, ">f4");
    ck_assert_int_eq(import_logits(npz, tu_path("x.h5"), NULL, 0, &rep, &err), -1);
    ck_assert_msg(strstr(err.msg, "arr_1.npy: big-endian data"), "%s", err.msg);
    npz = write_npz("ok.npz", layer, rows, "<f2");
    struct stat sb;
    ck_assert_int_eq(stat(npz, &sb), 0);
    ck_assert_int_eq(truncate(npz, sb.st_size / 2), 0);
    ck_assert_int_eq(import_logits(npz, tu_path("x.h5"), NULL, 0, &rep, &err), -1);
    ck_assert_msg(strstr(err.msg, "not a readable .npz archive"), "%s", err.msg);
    ck_assert_int_eq(access(tu_path("x.h5"), F_OK), -1);
    ck_assert_int_eq(tu_leftover_tmp(), 0);
}
END_TEST

/* The .npz reader's libzip is opened on first use (common/lazylib.h): a
 * library or function that is not there is named, with what to install,
 * and asked again it fails the same way. */
START_TEST(a_missing_library_is_named)
{
    void (*f)(void) = NULL;
    const lazylib_symbol sym[] = {{"deflate", (void **)&f}};
    lazylib absent = {"libpromoe-absent.so.9", "libabsent9", sym, 1, 0, ""};
    promoe_err err = {{0}};
    for (int again = 0; again < 2; again++) {
        ck_assert_int_eq(lazylib_open(&absent, &err), -1);
        ck_assert_msg(strstr(err.msg, "cannot load libpromoe-absent.so.9 (install the Debian "
                             "package libabsent9)"), "%s", err.msg);
    }
    lazylib zlib = {"libz.so.1", "zlib1g", sym, 1, 0, ""};
    ck_assert_int_eq(lazylib_open(&zlib, &err), 0);
    ck_assert_ptr_nonnull(f);
    void (*g)(void) = NULL;
    const lazylib_symbol none[] = {{"promoe_no_such_function", (void **)&g}};
    lazylib lacking = {"libz.so.1", "zlib1g", none, 1, 0, ""};
    ck_assert_int_eq(lazylib_open(&lacking, &err), -1);
    ck_assert_msg(strstr(err.msg, "libz.so.1 has no function promoe_no_such_function"), "%s",
                  err.msg);
    ck_assert_ptr_null(g);
}
END_TEST

START_TEST(bad_input_errors)
{
    assert_import_fails("warp-jsonl", "{\"tok\": 1, \"layers\": [[1, 2]]}\n{\"tok\": 2, \"layers\": [[1, 2]\n",
                        8, "2: invalid JSON");
    assert_import_fails("warp-jsonl", "{\"tok\": 1, \"layers\": [[1, 70]]}\n", 64,
                        "1: expert id 70 out of range [0, 64) (check --experts or -m)");
    assert_import_fails("warp-jsonl", "{\"layers\": [[1, 2]]}\n", 8, "1: \"tok\" is missing");
    assert_import_fails("jsonl",
        "{\"request\": 0, \"token\": 0, \"phase\": \"decode\", \"layer\": 0, \"experts\": [1]}\n"
        "{\"request\": 0, \"token\": 0, \"phase\": \"decode\", \"layer\": 0, \"experts\": [2]}\n",
        8, "2: duplicate record for request 0 token 0 layer 0 (first at line 1)");
    assert_import_fails("jsonl", "{\"request\": 0, \"token\": 0, \"layer\": 0, \"experts\": [1]}\n", 8,
                        "1: missing field \"phase\" (map another key with --field phase=KEY)");
    assert_import_fails("jsonl",
        "{\"request\": 0, \"token\": 0, \"phase\": \"middle\", \"layer\": 0, \"experts\": [1]}\n", 8,
        "1: field \"phase\" must be \"prefill\" or \"decode\"");
    assert_import_fails("jsonl",
        "{\"request\": 0, \"token\": 0, \"phase\": \"decode\", \"layer\": 0, \"experts\": [1, 1]}\n", 8,
        "1: expert 1 listed twice");
    assert_import_fails("jsonl",
        "{\"request\": 0, \"token\": 0, \"phase\": \"decode\", \"layer\": 0, \"experts\": [1], \"weights\": [1]}\n"
        "{\"request\": 0, \"token\": 1, \"phase\": \"decode\", \"layer\": 0, \"experts\": [2]}\n",
        8, "2: some records give gate weights and some do not");
    assert_import_fails("csv", "request,token,phase,layer,rank,expert,weight\n0,0,decode,0,0,1\n", 8,
                        "2: 6 fields, but the header has 7");
    assert_import_fails("csv", "request,token,phase,layer,expert\n", 8,
                        "1: header lacks column 'rank'");
    assert_import_fails("csv", "request,token,phase,layer,rank,expert,weight\n0,0,decode,0,1,3,0.5\n", 8,
                        "2: request 0 token 0 layer 0: rank 0 is missing");
    assert_import_fails("csv", "request,token,phase,layer,rank,expert,weight\n0,x,decode,0,0,3,0.5\n", 8,
                        "2: token 'x' is not an integer");
    /* unknown format and missing --experts are refused before reading */
    promoe_err err = {{0}};
    trace_import_opts o;
    trace_import_defaults(&o);
    ck_assert_int_eq(trace_import_file("xml", &o, "x", "y", NULL, &err), -1);
    ck_assert_str_eq(err.msg, "unknown import format 'xml' (formats: warp-jsonl, jsonl, csv, hf-router-logits)");
    ck_assert_int_eq(trace_import_file("csv", &o, "x", "y", NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "--experts E"), "%s", err.msg);
    ck_assert_int_eq(trace_import_map_field(&o, "colour=c", &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown field"), "%s", err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("import/export");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, warp_jsonl_keeps_order_and_positions);
    tcase_add_test(tc, jsonl_field_mapping_and_iterations);
    tcase_add_test(tc, csv_matches_jsonl);
    tcase_add_test(tc, export_import_round_trip_is_lossless);
    tcase_add_test(tc, bad_input_errors);
    tcase_add_test(tc, data_must_match_the_model);
    tcase_add_test(tc, hf_router_logits_by_hand);
    tcase_add_test(tc, hf_router_logits_errors);
    tcase_add_test(tc, a_missing_library_is_named);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
