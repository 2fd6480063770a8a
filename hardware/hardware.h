/* hardware.h - machine descriptions for the cost model, loaded from preset
 * data files (hardware/NAME.ini, installed under $(pkgdatadir)/hardware),
 * every number overridable with --set KEY=VALUE. */
#ifndef PROMOE_HARDWARE_HARDWARE_H
#define PROMOE_HARDWARE_HARDWARE_H

#include <stddef.h>

#include "common/error.h"

#define HW_NAME_MAX 64

typedef struct hw_desc {
    char name[HW_NAME_MAX];
    double gpu_tflops;        /* dense fp16 tensor rate with fp32 accumulation, TFLOP/s */
    double gpu_mem_gbps;      /* GPU memory bandwidth, GB/s */
    double gpu_mem_gib;       /* GPU memory, GiB */
    double gpu_op_us;         /* fixed cost of one GPU operation (launch), us */
    double pcie_gbps;         /* host-to-device copy bandwidth, GB/s */
    double pcie_latency_us;   /* fixed cost of one copy, us */
    double cpu_gflops;        /* host compute rate, GFLOP/s */
    double cpu_mem_gbps;      /* host memory bandwidth, GB/s */
    /* host time a serving framework spends a step, beyond the GPU's
     * operations (Python dispatch, eager kernel launches): per layer, and
     * per expert the layer computes.  0 (the default) for an efficient
     * engine; hardware/rtx4090-transformers.ini says how they are set. */
    double framework_layer_us, framework_expert_us;
} hw_desc;

/* As model_load, for hardware/ presets. */
int hw_load(const char *name_or_path, hw_desc *hw, promoe_err *err);
/* Applies "KEY=VALUE" (e.g. "pcie_gbps=12"). */
int hw_set(hw_desc *hw, const char *assignment, promoe_err *err);
void hw_list_presets(char *buf, size_t len);

#endif
