#include "hardware/hardware.h"

#include <stddef.h>

#include "common/preset.h"

#define NUM_KEY(k, lo, hi) {#k, PRESET_DOUBLE, offsetof(hw_desc, k), 0, lo, hi, 1}
#define OPTIONAL_KEY(k, lo, hi) {#k, PRESET_DOUBLE, offsetof(hw_desc, k), 0, lo, hi, 0}

static const preset_key hw_keys[] = {
    {"name", PRESET_STRING, offsetof(hw_desc, name), HW_NAME_MAX, 0, 0, 1},
    NUM_KEY(gpu_tflops, 1e-3, 1e6),
    NUM_KEY(gpu_mem_gbps, 1e-3, 1e6),
    NUM_KEY(gpu_mem_gib, 1e-3, 1e6),
    NUM_KEY(gpu_op_us, 0, 1e6),
    NUM_KEY(pcie_gbps, 1e-3, 1e6),
    NUM_KEY(pcie_latency_us, 0, 1e6),
    NUM_KEY(cpu_gflops, 1e-3, 1e9),
    NUM_KEY(cpu_mem_gbps, 1e-3, 1e6),
    OPTIONAL_KEY(framework_layer_us, 0, 1e6),
    OPTIONAL_KEY(framework_expert_us, 0, 1e6),
};

static const preset_kind hw_kind = {"hardware", "hardware", hw_keys,
                                    sizeof hw_keys / sizeof hw_keys[0]};

int hw_load(const char *name_or_path, hw_desc *hw, promoe_err *err)
{
    *hw = (hw_desc){{0}};
    return preset_load(&hw_kind, name_or_path, hw, err);
}

int hw_set(hw_desc *hw, const char *assignment, promoe_err *err)
{
    return preset_set(&hw_kind, assignment, hw, err);
}

void hw_list_presets(char *buf, size_t len)
{
    preset_list(&hw_kind, buf, len);
}
