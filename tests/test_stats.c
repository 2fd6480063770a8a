/* trace info's statistics, against values computed by hand and against
 * the figure NOTICE.md gives for the real OLMoE trace. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/testutil.h"
#include "traces/trace_stats.h"

/* 2 layers, 4 experts, top-2, one request, 3 decode tokens:
 *   t0: l0 {0,1}  l1 {2,3}
 *   t1: l0 {0,2}  l1 {2,3}
 *   t2: l0 {0,1}  l1 {1,3}
 * By hand:
 *   reuse: t1 vs t0: 1 + 2, t2 vs t1: 1 + 1 -> 5/8; layer 0: 2/4, layer 1: 3/4
 *   layer 0 counts {3,2,1,0}: Gini = (-1*1 + 1*2 + 3*3) / (4*6) = 10/24;
 *     entropy = -(1/2 ln 1/2 + 1/3 ln 1/3 + 1/6 ln 1/6) / ln 4
 *   co-occurrence 0->1: C[0] = {0,1,2,3}, C[1] = {0,1,1,2}, C[2] = {0,0,1,1};
 *     t0: C0+C1 = {0,2,3,5} -> {3,2}, 2 hits; t1: C0+C2 = {0,1,3,4} -> {3,2},
 *     2 hits; t2: {3,2} vs {1,3}, 1 hit -> 5/6
 *   popularity: layer 0 top {0,1}: 2+1+2; layer 1 counts {0,1,2,3} top {3,2}:
 *     2+2+1 -> 10/12 */
static const char *hand_trace =
    "{\"tok\": 0, \"layers\": [[0, 1], [2, 3]]}\n"
    "{\"tok\": 1, \"layers\": [[0, 2], [2, 3]]}\n"
    "{\"tok\": 2, \"layers\": [[0, 1], [1, 3]]}\n";

START_TEST(hand_computed_figures)
{
    const char *t = tu_import_text("warp-jsonl", "hand", hand_trace, 4, 0);
    trace_stats s;
    promoe_err err = {{0}};
    ck_assert_msg(trace_stats_compute(t, &s, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(s.decode_tokens, 3);
    ck_assert_int_eq(s.iterations, 3);
    ck_assert_int_eq(s.reuse_tokens, 2);
    ck_assert_double_eq_tol(s.reuse, 5.0 / 8, 1e-12);
    ck_assert_double_eq_tol(s.reuse_layer[0], 0.5, 1e-12);
    ck_assert_double_eq_tol(s.reuse_layer[1], 0.75, 1e-12);
    ck_assert_double_eq_tol(s.gini[0], 10.0 / 24, 1e-12);
    double h = -(0.5 * log(0.5) + log(1.0 / 3) / 3 + log(1.0 / 6) / 6) / log(4.0);
    ck_assert_double_eq_tol(s.entropy[0], h, 1e-12);
    ck_assert_double_eq_tol(s.cross_layer, 5.0 / 6, 1e-12);
    ck_assert_double_eq_tol(s.popularity, 10.0 / 12, 1e-12);
    trace_stats_free(&s);
}
END_TEST

START_TEST(reuse_follows_each_request_when_batched)
{
    /* requests 0 and 1 interleaved in shared decode iterations: reuse
     * compares each token with its own request's previous token.
     *   request 0: {0,1} then {0,1}  -> 2/2
     *   request 1: {2,3} then {3,0}  -> 1/2     => 3/4
     * (row-by-row comparison would give 0.) */
    const char *t = tu_import_text("jsonl", "batch",
        "{\"request\": 0, \"token\": 5, \"phase\": \"decode\", \"layer\": 0, \"experts\": [0, 1], \"iteration\": 0}\n"
        "{\"request\": 1, \"token\": 9, \"phase\": \"decode\", \"layer\": 0, \"experts\": [2, 3], \"iteration\": 0}\n"
        "{\"request\": 0, \"token\": 6, \"phase\": \"decode\", \"layer\": 0, \"experts\": [1, 0], \"iteration\": 1}\n"
        "{\"request\": 1, \"token\": 10, \"phase\": \"decode\", \"layer\": 0, \"experts\": [3, 0], \"iteration\": 1}\n",
        4, 0);
    promoe_err err = {{0}};
    trace_stats s;
    ck_assert_msg(trace_stats_compute(t, &s, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(s.iterations, 2);
    ck_assert_int_eq(s.reuse_tokens, 2);
    ck_assert_double_eq_tol(s.reuse, 0.75, 1e-12);
    ck_assert(isnan(s.cross_layer)); /* one layer: nothing to predict */
    trace_stats_free(&s);
}
END_TEST

/* A missing record ([] in warp-jsonl, stored as -1) is no data point for
 * reuse, on either side of a pair (trace_record_missing):
 *   t0: l0 {0,1}  l1 {2,3}
 *   t1: l0 {0,2}  l1 missing
 *   t2: l0 {0,1}  l1 {1,3}
 * layer 0: t1 vs t0 1/2, t2 vs t1 1/2; layer 1: no pair has both records,
 * so no figure (counting t2 against the missing t1 as no reuse would give
 * 0/2 and an overall 2/6). */
START_TEST(missing_records_are_left_out_of_reuse)
{
    const char *t = tu_import_text("warp-jsonl", "missing",
        "{\"tok\": 0, \"layers\": [[0, 1], [2, 3]]}\n"
        "{\"tok\": 1, \"layers\": [[0, 2], []]}\n"
        "{\"tok\": 2, \"layers\": [[0, 1], [1, 3]]}\n", 4, 0);
    trace_stats s;
    promoe_err err = {{0}};
    ck_assert_msg(trace_stats_compute(t, &s, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(s.missing, 2); /* two ranks of one record */
    ck_assert_int_eq(s.reuse_tokens, 2);
    ck_assert_double_eq_tol(s.reuse, 0.5, 1e-12);
    ck_assert_double_eq_tol(s.reuse_layer[0], 0.5, 1e-12);
    ck_assert(isnan(s.reuse_layer[1]));
    trace_stats_free(&s);
}
END_TEST

START_TEST(olmoe_next_token_reuse_matches_notice)
{
    const char *t = tu_import_olmoe();
    trace_stats s;
    promoe_err err = {{0}};
    ck_assert_msg(trace_stats_compute(t, &s, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(s.meta.num_tokens, 299);
    ck_assert_int_eq(s.meta.num_layers, 16);
    ck_assert_int_eq(s.meta.top_k, 8);
    ck_assert_int_eq(s.reuse_tokens, 298);
    /* NOTICE.md: next-token reuse 0.4352 */
    ck_assert_double_eq_tol(s.reuse, 0.4352, 0.00005);
    trace_stats_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace statistics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, hand_computed_figures);
    tcase_add_test(tc, reuse_follows_each_request_when_batched);
    tcase_add_test(tc, missing_records_are_left_out_of_reuse);
    suite_add_tcase(s, tc);
    return tu_run_with_shared(s, olmoe_next_token_reuse_matches_notice, "the OLMoE figure");
}
