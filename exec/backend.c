#include "exec/backend.h"

#include <string.h>

#include "common/registry.h"
#include "config.h"
#include "exec/cuda_plugin.h"

extern const exec_backend_ops exec_backend_cpu;

/* A backend by name, and how to reach its operations: linked in, or from
 * a plugin opened on first use (exec/cuda_plugin.h). */
typedef struct backend_entry {
    const char *name;
    const exec_backend_ops *(*open)(promoe_err *err);
} backend_entry;

static const exec_backend_ops *cpu_backend(promoe_err *err)
{
    (void)err;
    return &exec_backend_cpu;
}

static const backend_entry cpu = {"cpu", cpu_backend};
#ifdef HAVE_CUDA
static const backend_entry cuda = {"cuda", exec_cuda_backend};
#endif

static const backend_entry *const registry[] = {
    &cpu,
#ifdef HAVE_CUDA
    &cuda,
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

const exec_backend_ops *exec_backend_find(const char *name, promoe_err *err)
{
    const backend_entry *b = registry_find((const void *const *)registry, name);
    if (!b) {
        promoe_err_set(err, "no such backend (this build has: %s)", exec_backend_names());
        return NULL;
    }
    return b->open(err);
}

const char *exec_backend_names(void)
{
    static char names[64];
    if (!names[0])
        registry_names((const void *const *)registry, names, sizeof names);
    return names;
}
