/* Hardware presets and the analytic cost model, against values worked out
 * by hand for Mixtral-8x7B on the RTX 4090 preset (d 4096, f 14336, fp16;
 * 165.2 TFLOP/s, 1008 GB/s, 23.9 GB/s PCIe, 5 us per GPU op and per copy). */
#include <string.h>

#include "hardware/hardware.h"
#include "sim/cost.h"
#include "tests/testutil.h"

static cost_model mixtral_4090(void)
{
    cost_model c;
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
    /* the same expert on the CPU: 352,395,264 B at 89.6 GB/s = 3.933 ms */
    ck_assert_double_eq_tol(cost_expert_cpu_s(&c, 1), 352395264.0 / 89.6e9, 1e-12);
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
    static const char *names[] = {"rtx4090-pcie4", "a100-pcie4", "h100-pcie5", "orin-agx"};
    for (size_t i = 0; i < 4; i++) {
        hw_desc hw;
        ck_assert_msg(hw_load(names[i], &hw, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(hw.name, names[i]);
    }
    hw_desc hw;
    ck_assert_int_eq(hw_load("tpu-v9", &hw, &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown hardware 'tpu-v9' (presets: a100-pcie4, h100-pcie5"),
                  "%s", err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cost model");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, mixtral_on_rtx4090_by_hand);
    tcase_add_test(tc, overrides_and_presets);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
