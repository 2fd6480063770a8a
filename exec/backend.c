#include "exec/backend.h"

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
