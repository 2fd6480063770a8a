/* Model presets: the shipped files load with the published shapes, and
 * malformed presets are refused with file:line messages. */
#include <string.h>

#include "common/preset.h"
#include "models/model.h"
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

int main(void)
{
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, presets_have_published_shapes);
    tcase_add_test(tc, bad_presets_are_refused);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
