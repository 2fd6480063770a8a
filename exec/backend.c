#include "exec/backend.h"

#include <string.h>

#include "common/registry.h"
#include "config.h"

extern const exec_backend_ops exec_backend_cpu;
#ifdef HAVE_CUDA
extern const exec_backend_ops exec_backend_cuda;
#endif

static const exec_backend_ops *const registry[] = {
    &exec_backend_cpu,
#ifdef HAVE_CUDA
    &exec_backend_cuda,
#endif
    NULL,
};

int exec_run_experts(const exec_expert_source *src, int layer, const int *experts, int n,
                     int *pending, int (*compute)(void *ctx, const void *block, int index,
                                                  promoe_err *err),
                     void *ctx, promoe_err *err)
{
    for (int j = 0; j < n; j++)
        pending[j] = j;
    while (n > 0) {
        int at = src->next ? src->next(src->ctx, layer, experts, pending, n) : 0;
        int j = pending[at];
        const void *block = src->acquire(src->ctx, layer, experts[j], err);
        if (!block || compute(ctx, block, j, err) < 0)
            return -1;
        if (src->release)
            src->release(src->ctx, layer, experts[j]);
        memmove(pending + at, pending + at + 1, (size_t)(--n - at) * sizeof *pending);
    }
    return 0;
}

const exec_backend_ops *exec_backend_find(const char *name)
{
    return registry_find((const void *const *)registry, name);
}

const char *exec_backend_names(void)
{
    static char names[64];
    if (!names[0])
        registry_names((const void *const *)registry, names, sizeof names);
    return names;
}
