/* cmd_version.c - `promoe version`. */
#include <hdf5.h>

#include "cli/cli.h"
#include "config.h"
#include "exec/cuda_probe.h"

int cmd_version(int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("version", "takes no arguments");
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    printf("promoe %s\nHDF5 %u.%u.%u\nCUDA support: %s\n", PACKAGE_VERSION, maj, min, rel,
           exec_cuda_built() ? "built (nvcc)" : "not built");
    return CLI_OK;
}
