#include "exec/cuda_plugin.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "exec/backend.h"
#include "exec/cuda_probe.h"

int exec_cuda_built(void)
{
#ifdef HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

static void *plugin; /* opened once, kept for the process's life */

/* Only builds with CUDA reach it: the registry lists the cuda backend
 * there alone, and exec_cuda_selftest asks exec_cuda_built first. */
static void *plugin_symbol(const char *name, promoe_err *err)
{
    if (!plugin) {
        char tried[3][PATH_MAX + 32], exe[PATH_MAX];
        int n = 0;
        const char *given = getenv("PROMOE_CUDA_PLUGIN");
        if (given && *given) {
            snprintf(tried[n++], sizeof tried[0], "%s", given);
        } else {
            ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
            char *slash = len > 0 ? (exe[len] = '\0', strrchr(exe, '/')) : NULL;
            if (slash) {
                *slash = '\0';
                snprintf(tried[n++], sizeof tried[0], "%s/" CUDA_PLUGIN_FILE, exe);
                snprintf(tried[n++], sizeof tried[0], "%s/../" CUDA_PLUGIN_FILE, exe);
            }
            snprintf(tried[n++], sizeof tried[0], "%s/" CUDA_PLUGIN_FILE, PROMOE_PKGLIBDIR);
        }
        for (int i = 0; i < n && !plugin; i++) {
            if (access(tried[i], F_OK) != 0)
                continue;
            if (!(plugin = dlopen(tried[i], RTLD_NOW | RTLD_LOCAL))) {
                promoe_err_set(err, "the cuda backend's plugin %s cannot be loaded: %s", tried[i],
                               dlerror());
                return NULL;
            }
        }
        if (!plugin) {
            promoe_err_set(err, "the cuda backend's plugin %s is not at %s%s%s (set "
                           "PROMOE_CUDA_PLUGIN to its path)", CUDA_PLUGIN_FILE, tried[0],
                           n > 1 ? " or " : "", n > 1 ? tried[n - 1] : "");
            return NULL;
        }
    }
    void *sym = dlsym(plugin, name);
    if (!sym)
        promoe_err_set(err, "the cuda backend's plugin has no %s: %s (rebuild it with this "
                       "program)", name, dlerror());
    return sym;
}

const exec_backend_ops *exec_cuda_backend(promoe_err *err)
{
    return plugin_symbol(CUDA_PLUGIN_BACKEND, err);
}

int exec_cuda_selftest(size_t n, char *device_name, size_t name_len, promoe_err *err)
{
    if (!exec_cuda_built())
        return promoe_err_set(err, "this build has no CUDA support (configure found no toolkit)"), 1;
    int (*selftest)(size_t, char *, size_t, promoe_err *);
    void *sym = plugin_symbol(CUDA_PLUGIN_SELFTEST, err);
    if (!sym)
        return -1;
    memcpy(&selftest, &sym, sizeof sym); /* dlsym's object pointer to a function's (POSIX) */
    return selftest(n, device_name, name_len, err);
}
