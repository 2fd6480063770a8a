/* blas.h - the BLAS the program computes with (OpenBLAS), opened on first
 * use (common/lazylib.h): a command that multiplies no matrices starts
 * without OpenBLAS and the threads it starts when loaded.
 *
 * The program's own dense products go through this table, never through a
 * cblas_* symbol: the one linked (GSL's reference CBLAS, which GSL itself
 * needs) is much slower, and test_cli.sh checks the program calls none. */
#ifndef PROMOE_COMMON_BLAS_H
#define PROMOE_COMMON_BLAS_H

#include <gsl/gsl_cblas.h> /* the CBLAS enums, which OpenBLAS shares */

#include "common/error.h"

typedef struct blas_ops {
    void (*sgemm)(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                  int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                  int ldb, float beta, float *c, int ldc);
    void (*sgemv)(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE t, int m, int n, float alpha,
                  const float *a, int lda, const float *x, int incx, float beta, float *y,
                  int incy);
    void (*saxpy)(int n, float alpha, const float *x, int incx, float *y, int incy);
    float (*sdot)(int n, const float *x, int incx, const float *y, int incy);
} blas_ops;

/* The BLAS, opened on the first call; NULL with err if it cannot be. */
const blas_ops *blas_open(promoe_err *err);

/* For commands whose only BLAS work is a predictor's small products (sim,
 * demo, predict): one OpenBLAS thread, unless OPENBLAS_NUM_THREADS or
 * OMP_NUM_THREADS says otherwise.  Its pool's idle threads spin on
 * sched_yield between such products and slowed the demo by 45% on 2 cores;
 * exec and profile keep the pool for the CPU backend's large ones.  Call
 * it before the BLAS is first opened. */
void blas_one_thread(void);

#endif
