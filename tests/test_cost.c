/* Hardware presets and the analytic cost model, against values worked out
 * by hand for Mixtral-8x7B on the RTX 4090 preset (d 4096, f 14336, fp16;
 * 165.2 TFLOP/s, 1008 GB/s, 23.9 GB/s PCIe, 5 us per GPU op and per copy). */
#include <stdio.h>
#include <string.h>

#include "common/preset.h"
#include "hardware/hardware.h"
#include "sim/cost.h"
#include "sim/engine.h"
#include "tests/testutil.h"
#include "traces/trace_gen.h"

static cost_model mixtral_4090(void)
{
    cost_model c = {0};
    promoe_err err = {{0}};
    ck_assert_msg(model_load("mixtral-8x7b", &c.model, &err) == 0, "%s", err.msg);
    ck_assert_msg(hw_load("rtx4090-pcie4", &c.hw, &err) == 0, "%s", err.msg);
    return c;
}

START_TEST(mixtral_on_rtx4090_by_hand)
{
    cost_model c = mixtral_4090();
    /* one expert: 3 x 4096 x 14336 x 2 B = 352,321,536 B;
     * load = 5 us + 352321536 / 23.9e9 = 5e-6 + 0.0147414869 s */
    ck_assert_double_eq_tol(cost_expert_load_s(&c), 5e-6 + 352321536.0 / 23.9e9, 1e-12);
    ck_assert_double_eq_tol(cost_expert_load_s(&c), 0.0147464869, 1e-9);
    /* one token: 352,321,536 FLOPs (2.13 us of compute) but 352,321,536 +
     * (2*4096 + 2*14336) * 2 = 352,395,264 B at 1008 GB/s = 349.598 us:
     * memory bound -> 354.598 us */
    ck_assert_double_eq_tol(cost_expert_s(&c, 1), 5e-6 + 352395264.0 / 1008e9, 1e-12);
    ck_assert_double_eq_tol(cost_expert_s(&c, 1), 354.598e-6, 1e-9);
    /* 1024 tokens: 3.6078e11 FLOPs / 165.2e12 = 2.18388 ms beats
     * 427,819,008 B / 1008 GB/s = 0.42442 ms: compute bound */
    ck_assert_double_eq_tol(cost_expert_s(&c, 1024), 5e-6 + 352321536.0 * 1024 / 165.2e12, 1e-12);
    /* attention, 1 token after 100: weights 4096*128*(64+16) = 41,943,040;
     * bytes 83,886,080 + 101*2*8*128*2 + 2*4096*2 = 84,316,160 -> 83.647 us */
    ck_assert_double_eq_tol(cost_attention_s(&c, 1, 100), 5e-6 + 84316160.0 / 1008e9, 1e-12);
    /* router, 1 token: 65,536 FLOPs, 4096*8*2 + (4096+8)*2 = 73,744 B */
    ck_assert_double_eq_tol(cost_router_s(&c, 1), 5e-6 + 73744.0 / 1008e9, 1e-12);
    /* the same expert on the CPU: 352,395,264 B at the measured 69 GB/s =
     * 5.107 ms (one token: the read bounds it, not 744 GFLOP/s) */
    ck_assert_double_eq_tol(cost_expert_cpu_s(&c, 1), 352395264.0 / 69e9, 1e-12);
}
END_TEST

START_TEST(overrides_and_presets)
{
    cost_model c = mixtral_4090();
    promoe_err err = {{0}};
    ck_assert_int_eq(hw_set(&c.hw, "pcie_gbps=12", &err), 0);
    ck_assert_double_eq_tol(cost_expert_load_s(&c), 5e-6 + 352321536.0 / 12e9, 1e-12);
    ck_assert_int_eq(hw_set(&c.hw, "pcie_gbps=-1", &err), -1);
    ck_assert_msg(strstr(err.msg, "pcie_gbps = '-1' is not a number in"), "%s", err.msg);
    ck_assert_int_eq(hw_set(&c.hw, "warp_speed=9", &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown key 'warp_speed' (keys: name, gpu_tflops"), "%s", err.msg);
    ck_assert_int_eq(hw_set(&c.hw, "pcie_gbps", &err), -1);
    ck_assert_msg(strstr(err.msg, "expected KEY=VALUE"), "%s", err.msg);
    static const char *names[] = {"rtx4090-pcie4", "a100-pcie4", "h100-pcie5", "orin-agx",
                                  "rtx4090-transformers"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        hw_desc hw;
        ck_assert_msg(hw_load(names[i], &hw, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(hw.name, names[i]);
    }
    hw_desc hw;
    ck_assert_int_eq(hw_load("tpu-v9", &hw, &err), PRESET_UNKNOWN); /* a wrong name, not a bad file */
    ck_assert_msg(strstr(err.msg, "unknown hardware 'tpu-v9' (presets: a100-pcie4, h100-pcie5"),
                  "%s", err.msg);
}
END_TEST

/* A framework's host time: framework_layer_us once a layer (with the
 * router), framework_expert_us per expert computed; none in the efficient
 * presets, none over a measured profile. */
START_TEST(framework_time_per_layer_and_expert)
{
    cost_model c = mixtral_4090();
    double router = cost_router_s(&c, 1), expert = cost_expert_s(&c, 4);
    promoe_err err = {{0}};
    ck_assert_int_eq(hw_set(&c.hw, "framework_layer_us=700", &err), 0);
    ck_assert_int_eq(hw_set(&c.hw, "framework_expert_us=90", &err), 0);
    ck_assert_double_eq_tol(cost_router_s(&c, 1) - router, 700e-6, 1e-12);
    ck_assert_double_eq_tol(cost_expert_s(&c, 4) - expert, 90e-6, 1e-12);
    hw_desc t;
    ck_assert_msg(hw_load("rtx4090-transformers", &t, &err) == 0, "%s", err.msg);
    ck_assert_double_eq(t.framework_layer_us, 1110);
    ck_assert_double_eq(t.framework_expert_us, 111);
    ck_assert_double_eq(c.hw.pcie_gbps, t.pcie_gbps); /* the same machine as rtx4090-pcie4 */
    ck_assert_double_eq(mixtral_4090().hw.framework_layer_us, 0);
}
END_TEST

/* rtx4090-transformers reproduces the one figure it was calibrated from:
 * DeepSeek-MoE-16B's full-cache decode step in transformers, about 56 ms
 * (the authors' development runs, issue 19): all-gpu on the trace its
 * preset names, 6.24 ms of GPU time and 28 x (1110 + 6 x 111) us of the
 * framework's, 55.97 ms. */
START_TEST(transformers_preset_reproduces_its_calibration)
{
    model_desc m;
    promoe_err err = {{0}};
    ck_assert_msg(model_load("deepseek-moe-16b", &m, &err) == 0, "%s", err.msg);
    trace_gen_params g;
    trace_gen_defaults(&g);
    g.num_requests = 6;
    g.seed = 7;
    g.content = 0;
    const char *path = tu_path("deepseek.h5");
    ck_assert_msg(trace_gen_write(&g, &m, path, NULL, &err) == 0, "%s", err.msg);
    sim_config c;
    sim_config_defaults(&c);
    c.cost.model = m;
    ck_assert_msg(hw_load("rtx4090-transformers", &c.cost.hw, &err) == 0, "%s", err.msg);
    c.offload.preload = 1;
    c.offload.slots = (int64_t)m.num_layers * m.num_experts;
    sim_result r;
    ck_assert_msg(sim_run(path, &c, &r, &err) == 0, "%s", err.msg);
    ck_assert_double_eq_tol(r.tpot_ms_mean, 56.0, 0.5);
    ck_assert_double_eq_tol(r.tpot_ms_mean - 28 * (1110 + 6 * 111) * 1e-3, 6.24, 0.05);
}
END_TEST

/* The regime's measure on the unit model and hardware (tests/test_engine.c
 * gives their costs): a decode layer at context 256 reads its attention
 * weights (800 B), the KV cache of 257 positions (257 x 40 B) and its input
 * and output (40 B): 11120 ns; the router 108 ns; one expert 680 ns; no
 * shared experts.  11908 ns against a 1200 ns copy: 9.923. */
START_TEST(compute_per_copy_by_hand)
{
    cost_model c = {0}; /* no measured profile */
    tu_unit_cost(&c);
    ck_assert_double_eq_tol(cost_compute_per_copy(&c), 11908.0 / 1200.0, 1e-9);
}
END_TEST

static const char *profile_json =
    "{\"format\": \"promoe-profile\", \"version\": 1, \"model\": \"mixtral-8x7b\",\n"
    " \"attention\": [[1, 1e-4], [2, 2e-4]], \"attention_context\": 100,\n"
    " \"attention_per_context_s\": 1e-7,\n"
    " \"router\": [[1, 1e-5], [2, 2e-5]],\n"
    " \"expert\": [[1, 0.001], [3, 0.002]],\n"
    " \"transfer\": [[1e6, 1e-3], [2e6, 1.5e-3]]}\n";

/* expert: 1 token 1 ms, 3 tokens 2 ms -> 2 tokens 1.5 ms (between), 5 tokens
 * 3 ms and 0 tokens 0.5 ms (the end segments extended); attention for 1
 * token after 200 cached ones: 0.1 ms + 1e-7 * 1 * (200 - 100) = 0.11 ms;
 * a 4 MB copy: 1.5 ms + (0.5 ms / 1 MB) * 2 MB = 2.5 ms. */
START_TEST(measured_profile_replaces_the_analytic_model)
{
    cost_model c = mixtral_4090();
    cost_profile p;
    promoe_err err = {{0}};
    ck_assert_msg(profile_load(tu_write_file("p.json", profile_json), &p, &err) == 0, "%s", err.msg);
    c.profile = &p;
    ck_assert_double_eq_tol(cost_expert_s(&c, 2), 0.0015, 1e-12);
    ck_assert_double_eq_tol(cost_expert_s(&c, 5), 0.003, 1e-12);
    ck_assert_double_eq_tol(cost_expert_s(&c, 0), 0.0005, 1e-12);
    ck_assert_double_eq_tol(cost_attention_s(&c, 1, 200), 1.1e-4, 1e-12);
    ck_assert_double_eq_tol(cost_router_s(&c, 2), 2e-5, 1e-12);
    ck_assert_double_eq_tol(cost_transfer_s(&c, 4e6), 2.5e-3, 1e-12);
    ck_assert_str_eq(p.model, "mixtral-8x7b");
    /* without attention_start, below the measured context the one-token
     * slope goes on down: 2 tokens at 20 cached: 0.2 ms - 1e-7 * 2 * 80 */
    ck_assert_double_eq_tol(cost_attention_s(&c, 2, 20), 2e-4 - 1.6e-5, 1e-12);
    profile_free(&p);
    /* with it, the line from attention_start(t) at 0 to attention(t) at
     * 100 cached: 2 tokens at 20: 0.05 ms + (0.2 - 0.05) ms * 20 / 100 =
     * 0.08 ms; at 0 (a prompt's first step) 0.05 ms; beyond 100, as before */
    char with_start[1024];
    snprintf(with_start, sizeof with_start, "%.*s, \"attention_start\": [[1, 3e-5], [2, 5e-5]]}\n",
             (int)(strrchr(profile_json, '}') - profile_json), profile_json);
    ck_assert_msg(profile_load(tu_write_file("p2.json", with_start), &p, &err) == 0, "%s",
                  err.msg);
    ck_assert_double_eq_tol(cost_attention_s(&c, 2, 20), 8e-5, 1e-12);
    ck_assert_double_eq_tol(cost_attention_s(&c, 2, 0), 5e-5, 1e-12);
    ck_assert_double_eq_tol(cost_attention_s(&c, 1, 200), 1.1e-4, 1e-12);
    /* a step's fixed cost only where the profile measured it */
    ck_assert_double_eq(cost_step_fixed_s(&c, 4), 0);
    /* the CPU is not profiled */
    ck_assert_double_eq_tol(cost_expert_cpu_s(&c, 1), 352395264.0 / 69e9, 1e-12);
    profile_free(&p);

    static const struct { const char *text, *want; } bad[] = {
        {"{\"format\": \"promoe-profile\", \"version\": 1,", ":1: "},
        {"{\"format\": \"other\", \"version\": 1}", "not a promoe profile"},
        {"{\"format\": \"promoe-profile\", \"version\": 2}", "unsupported profile version"},
        {"{\"format\": \"promoe-profile\", \"version\": 1, \"attention\": [[1, 1], [2, 2]]}",
         "missing table \"router\""},
        {"{\"format\": \"promoe-profile\", \"version\": 1, \"attention\": [[2, 1], [1, 2]]}",
         "\"attention\" must list increasing x (point 1)"},
        {"{\"format\": \"promoe-profile\", \"version\": 1, \"attention\": [[1, 1]]}",
         "at least two [x, seconds] points"},
        {"{\"format\": \"promoe-profile\", \"version\": 1, \"attention\": [[1, 1], [2, 2]], "
         "\"router\": [[1, 1], [2, 2]], \"expert\": [[1, 1], [2, 2]], \"transfer\": [[1, 1], "
         "[2, 2]], \"step_fixed\": [[4, 1], [2, 2]]}",
         "\"step_fixed\" must list increasing x (point 1)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(profile_load(tu_write_file("bad.json", bad[i].text), &p, &err), -1);
        ck_assert_msg(strstr(err.msg, bad[i].want), "expected '%s' in: %s", bad[i].want, err.msg);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cost model");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, mixtral_on_rtx4090_by_hand);
    tcase_add_test(tc, overrides_and_presets);
    tcase_add_test(tc, measured_profile_replaces_the_analytic_model);
    tcase_add_test(tc, framework_time_per_layer_and_expert);
    tcase_add_test(tc, transformers_preset_reproduces_its_calibration);
    tcase_add_test(tc, compute_per_copy_by_hand);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
