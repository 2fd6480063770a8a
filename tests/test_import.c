/* Importers and exporters: hand-made inputs with known contents, the
 * lossless import -> export -> import round trip, and every error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    ck_assert_str_eq(err.msg, "unknown import format 'xml' (formats: warp-jsonl, jsonl, csv)");
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
    suite_add_tcase(s, tc);
    return tu_run(s);
}
