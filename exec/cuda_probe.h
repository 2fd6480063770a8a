/* cuda_probe.h - whether this build has CUDA, and whether a GPU can run a
 * kernel here (the cuda plugin's saxpy, checked on the host). */
#ifndef PROMOE_EXEC_CUDA_PROBE_H
#define PROMOE_EXEC_CUDA_PROBE_H

#include <stddef.h>

#include "common/error.h"

/* 1 if this build compiled the CUDA parts with nvcc. */
int exec_cuda_built(void);

/* Runs a small kernel (y = a*x + y over n floats) on device 0 and checks
 * the result on the host.  Returns 0 on success, 1 when this build has no
 * CUDA or no GPU or CUDA driver is present (err says why), -1 when the
 * plugin cannot be loaded, the GPU gave a wrong answer or an operation
 * failed.  `device_name` receives the GPU's name. */
int exec_cuda_selftest(size_t n, char *device_name, size_t name_len, promoe_err *err);

#endif
