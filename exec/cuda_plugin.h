/* cuda_plugin.h - the cuda backend lives in a plugin, promoe-cuda.so,
 * opened the first time a command asks for it: the CUDA runtime and cuBLAS
 * (about 200 MiB mapped and 0.3 s to load) then weigh only on the commands
 * that run on a GPU, not on every start of the program.
 *
 * The plugin exports the two names below; the program, linked with its
 * symbols exported (-rdynamic), gives the plugin what it calls back
 * (promoe_err_set, model_route, exec_run_experts, exec_expert_floats). */
#ifndef PROMOE_EXEC_CUDA_PLUGIN_H
#define PROMOE_EXEC_CUDA_PLUGIN_H

#include <stddef.h>

#include "common/error.h"

#define CUDA_PLUGIN_FILE "promoe-cuda.so"
/* const exec_backend_ops */
#define CUDA_PLUGIN_BACKEND "cuda_plugin_backend"
/* int (size_t n, char *device_name, size_t name_len, promoe_err *err), as
 * exec_cuda_selftest */
#define CUDA_PLUGIN_SELFTEST "cuda_plugin_selftest"

struct exec_backend_ops;

/* The plugin's backend, the plugin opened if it is not yet: found at
 * $PROMOE_CUDA_PLUGIN, else beside the program (a build tree, or a packed
 * .gpu/bin), else in the folder above it (the tests' programs), else where
 * `make install` put it.  NULL with err saying why (no CUDA in this build,
 * no plugin where it was looked for, or the loader's message). */
const struct exec_backend_ops *exec_cuda_backend(promoe_err *err);

#endif
