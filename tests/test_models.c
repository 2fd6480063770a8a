/* Model and system presets: the shipped files load with the published
 * shapes, malformed presets are refused with file:line messages, and a
 * command line sets a system's keys as its file would. */
#include <string.h>

#include "common/preset.h"
#include "models/model.h"
#include "offload/system.h"
#include "tests/testutil.h"

START_TEST(presets_have_published_shapes)
{
    static const struct { const char *name; int L, E, K, d, bits; } want[] = {
        {"mixtral-8x7b", 32, 8, 2, 4096, 16},      {"deepseek-moe-16b", 28, 64, 6, 2048, 16},
        {"qwen1.5-moe-a2.7b", 24, 60, 4, 2048, 16}, {"olmoe-1b-7b", 16, 64, 8, 2048, 16},
        {"deepseek-v2-lite", 27, 64, 6, 2048, 16},  {"qwen2-57b-a14b", 28, 64, 8, 3584, 16},
        /* the paper runs these two in INT4 */
        {"mixtral-8x7b-int4", 32, 8, 2, 4096, 4},  {"qwen2-57b-a14b-int4", 28, 64, 8, 3584, 4},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        model_desc m;
        promoe_err err = {{0}};
        ck_assert_msg(model_load(want[i].name, &m, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(m.name, want[i].name);
        ck_assert_int_eq(m.num_layers, want[i].L);
        ck_assert_int_eq(m.num_experts, want[i].E);
        ck_assert_int_eq(m.top_k, want[i].K);
        ck_assert_int_eq(m.hidden_size, want[i].d);
        ck_assert_int_eq(m.bits_per_weight, want[i].bits);
    }
    model_desc m;
    promoe_err err = {{0}};
    ck_assert_int_eq(model_load("mixtral-8x7b", &m, &err), 0);
    /* 3 matrices of 4096 x 14336 in fp16: 352,321,536 bytes (336 MiB) */
    ck_assert_uint_eq(model_expert_bytes(&m), 352321536u);
    ck_assert_int_eq(model_load("mixtral-8x7b-int4", &m, &err), 0);
    ck_assert_uint_eq(model_expert_bytes(&m), 352321536u / 4); /* 4 bits of 16 */
}
END_TEST

START_TEST(bad_presets_are_refused)
{
    model_desc m;
    promoe_err err = {{0}};
    ck_assert_int_eq(model_load("no-such-model", &m, &err), PRESET_UNKNOWN);
    ck_assert_msg(strstr(err.msg, "unknown model 'no-such-model' (presets: deepseek-moe-16b"),
                  "%s", err.msg);
    const char *p = tu_write_file("bad1.ini", "[model]\nname = x\nnum_layers = 0\n");
    ck_assert_int_eq(model_load(p, &m, &err), -1);
    ck_assert_msg(strstr(err.msg, "bad1.ini:3: num_layers = '0' is not an integer in [1, 1024]"),
                  "%s", err.msg);
    p = tu_write_file("bad2.ini", "[model]\nname = x\ncolour = red\n");
    ck_assert_int_eq(model_load(p, &m, &err), -1);
    ck_assert_msg(strstr(err.msg, "bad2.ini:3: unknown key 'colour' (keys: name, num_layers"),
                  "%s", err.msg);
    p = tu_write_file("bad3.ini", "[model]\nname = x\nnum_layers = 2\n");
    ck_assert_int_eq(model_load(p, &m, &err), -1);
    ck_assert_msg(strstr(err.msg, "missing key 'num_experts'"), "%s", err.msg);
    ck_assert_int_eq(model_load(tu_path("absent.ini"), &m, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot open preset"), "%s", err.msg);
}
END_TEST

/* system_set, as `sim --policy ... --stride ...` uses it, against the same
 * settings read from a file. */
START_TEST(system_set_says_what_a_file_says)
{
    promoe_err err = {{0}};
    system_desc file, set;
    const char *p = tu_write_file("sys.ini", "[system]\nname = x\ndescription = d\n"
                                  "policy = lru-k:k=3\ncache_scope = per-layer\nstride = 2\n"
                                  "chunks = 4\npreempt = 1\nprefetch_min_prob = 0.25\n");
    ck_assert_msg(system_load(p, &file, &err) == 0, "%s", err.msg);
    system_defaults(&set);
    static const char *kv[][2] = {{"policy", "lru-k:k=3"}, {"cache_scope", "per-layer"},
                                  {"stride", "2"}, {"chunks", "4"}, {"preempt", "1"},
                                  {"prefetch_min_prob", "0.25"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        ck_assert_msg(system_set(&set, kv[i][0], kv[i][1], &err) == 0, "%s", err.msg);
    ck_assert_str_eq(set.policy, "lru-k");
    ck_assert_str_eq(set.policy, file.policy);
    ck_assert_str_eq(set.policy_options, "k=3");
    ck_assert_str_eq(set.policy_options, file.policy_options);
    ck_assert_str_eq(set.cache_scope, file.cache_scope);
    ck_assert_str_eq(set.predictor, file.predictor);
    ck_assert_int_eq(set.stride, file.stride);
    ck_assert_int_eq(set.chunks, file.chunks);
    ck_assert_int_eq(set.preempt, file.preempt);
    ck_assert_int_eq(set.reorder, file.reorder);
    ck_assert(set.prefetch_min_prob == file.prefetch_min_prob);

    /* refused as the file would be, and nothing changed */
    ck_assert_int_eq(system_set(&set, "stride", "0", &err), -1);
    ck_assert_str_eq(err.msg, "stride = '0' is not an integer in [1, 1024]");
    ck_assert_int_eq(system_set(&set, "policy", "nope", &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown policy 'nope' (policies: lru"), "%s", err.msg);
    ck_assert_int_eq(system_set(&set, "cache_scope", "wide", &err), -1);
    ck_assert_str_eq(err.msg, "cache_scope must be global or per-layer, not 'wide'");
    ck_assert_int_eq(system_set(&set, "colour", "red", &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown key 'colour'"), "%s", err.msg);
    ck_assert_int_eq(set.stride, 2);
    ck_assert_str_eq(set.policy, "lru-k");
    ck_assert_str_eq(set.cache_scope, "per-layer");

    /* the last of chunks and chunk_bytes said wins */
    ck_assert_int_eq(system_set(&set, "chunk_bytes", "32MiB", &err), 0);
    ck_assert_int_eq(set.chunks, 1);
    ck_assert_int_eq(system_set(&set, "chunks", "3", &err), 0);
    ck_assert_str_eq(set.chunk_bytes, "");

    /* a policy given whole drops the file's trace-learnt policy */
    ck_assert_msg(system_load("static", &file, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(file.policy_trace, 1);
    ck_assert_int_eq(system_set(&file, "policy", "lru", &err), 0);
    ck_assert_int_eq(file.policy_trace, 0);
    ck_assert_str_eq(file.policy_options, "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, presets_have_published_shapes);
    tcase_add_test(tc, bad_presets_are_refused);
    tcase_add_test(tc, system_set_says_what_a_file_says);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
