/* The CUDA probe: a kernel's result checked on the host.  Skips (77) when
 * this build has no CUDA or the machine has no GPU. */
#include <stdio.h>

#include "exec/cuda_probe.h"

int main(void)
{
    char name[256] = "";
    promoe_err err = {{0}};
    int rc = exec_cuda_selftest(1 << 20, name, sizeof name, &err);
    if (rc == 1) {
        printf("SKIP: %s\n", err.msg);
        return 77;
    }
    if (rc != 0) {
        printf("FAIL: %s\n", err.msg);
        return 1;
    }
    printf("PASS: saxpy on %s (%s)\n", name, exec_cuda_built() ? "nvcc build" : "?");
    return 0;
}
