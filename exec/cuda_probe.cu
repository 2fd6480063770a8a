// cuda_probe.cu - a trivial CUDA unit: a saxpy kernel checked on the host.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "exec/cuda_plugin.h"
}

__global__ static void saxpy(size_t n, float a, const float *x, float *y)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = a * x[i] + y[i];
}

/* the plugin's entry for exec_cuda_selftest (exec/cuda_plugin.h) */
extern "C" int cuda_plugin_selftest(size_t n, char *device_name, size_t name_len, promoe_err *err)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
        return promoe_err_set(err, "no CUDA device: %s",
                              e != cudaSuccess ? cudaGetErrorString(e) : "none found"), 1;
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess && device_name)
        snprintf(device_name, name_len, "%s", prop.name);
    float *hx = (float *)malloc(n * sizeof(float)), *hy = (float *)malloc(n * sizeof(float));
    float *dx = NULL, *dy = NULL;
    int rc = -1;
    if (!hx || !hy) {
        promoe_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        hx[i] = (float)(i % 1000);
        hy[i] = 1.0f;
    }
    if ((e = cudaMalloc(&dx, n * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc(&dy, n * sizeof(float))) != cudaSuccess ||
        (e = cudaMemcpy(dx, hx, n * sizeof(float), cudaMemcpyHostToDevice)) != cudaSuccess ||
        (e = cudaMemcpy(dy, hy, n * sizeof(float), cudaMemcpyHostToDevice)) != cudaSuccess) {
        promoe_err_set(err, "CUDA: %s", cudaGetErrorString(e));
        goto out;
    }
    saxpy<<<(unsigned)((n + 255) / 256), 256>>>(n, 2.0f, dx, dy);
    if ((e = cudaGetLastError()) != cudaSuccess ||
        (e = cudaMemcpy(hy, dy, n * sizeof(float), cudaMemcpyDeviceToHost)) != cudaSuccess) {
        promoe_err_set(err, "CUDA: %s", cudaGetErrorString(e));
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < n; i++)
        if (hy[i] != 2.0f * (float)(i % 1000) + 1.0f) {
            promoe_err_set(err, "CUDA saxpy wrong at %zu: %g", i, (double)hy[i]);
            rc = -1;
            break;
        }
out:
    cudaFree(dx);
    cudaFree(dy);
    free(hx);
    free(hy);
    return rc;
}
