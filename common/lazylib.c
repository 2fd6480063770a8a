#include "common/lazylib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t opening = PTHREAD_MUTEX_INITIALIZER;

/* Opens the library and looks up every symbol; the failure, if any, into
 * lib->failure. */
static int open_now(lazylib *lib)
{
    void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(lib->failure, sizeof lib->failure, "cannot load %s (install the Debian "
                 "package %s): %s", lib->soname, lib->package, dlerror());
        return -1;
    }
    for (size_t i = 0; i < lib->num_symbols; i++) {
        void *f = dlsym(handle, lib->symbols[i].name);
        if (!f) {
            snprintf(lib->failure, sizeof lib->failure, "%s has no function %s (a version "
                     "this program was not built for? reinstall %s)", lib->soname,
                     lib->symbols[i].name, lib->package);
            dlclose(handle);
            return -1;
        }
        *lib->symbols[i].slot = f;
    }
    return 0; /* kept open for the process's life: its functions are in use */
}

int lazylib_open(lazylib *lib, promoe_err *err)
{
    pthread_mutex_lock(&opening);
    if (lib->state == 0)
        lib->state = open_now(lib) == 0 ? 1 : -1;
    int state = lib->state;
    pthread_mutex_unlock(&opening);
    if (state < 0)
        return promoe_err_set(err, "%s", lib->failure);
    return 0;
}
