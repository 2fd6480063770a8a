#include "common/blas.h"

#include <stdlib.h>

#include "common/lazylib.h"
#include "config.h"

static blas_ops ops;

static const lazylib_symbol symbols[] = {
    {"cblas_sgemm", (void **)&ops.sgemm},
    {"cblas_sgemv", (void **)&ops.sgemv},
    {"cblas_saxpy", (void **)&ops.saxpy},
    {"cblas_sdot", (void **)&ops.sdot},
};

static lazylib openblas = {OPENBLAS_SONAME, "libopenblas0", symbols,
                           sizeof symbols / sizeof symbols[0], 0, ""};

const blas_ops *blas_open(promoe_err *err)
{
    return lazylib_open(&openblas, err) < 0 ? NULL : &ops;
}

void blas_one_thread(void)
{
    /* OpenBLAS reads it when it is loaded, which is later */
    if (!getenv("OMP_NUM_THREADS"))
        setenv("OPENBLAS_NUM_THREADS", "1", 0);
}
