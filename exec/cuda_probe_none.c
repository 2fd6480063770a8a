/* cuda_probe_none.c - the probe when this build has no CUDA. */
#include "exec/cuda_probe.h"

int exec_cuda_built(void) { return 0; }

int exec_cuda_selftest(size_t n, char *device_name, size_t name_len, promoe_err *err)
{
    return promoe_err_set(err, "this build has no CUDA support (configure found no toolkit)"), 1;
}
