/* cmd_version.c - `promoe version`. */
#include <hdf5.h>

#include "cli/cli.h"
#include "config.h"
#include "exec/cuda_probe.h"

int cmd_version(int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("version", "takes no arguments");
    /* the headers' version, not H5get_libversion's: asking the library
     * starts it, a third of this command's time (the library linked is
     * the headers', statically or as the soname they name) */
    printf("promoe %s\nHDF5 %d.%d.%d\nCUDA support: %s\nlinked statically: %s\n",
           PACKAGE_VERSION, H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE,
           exec_cuda_built() ? "built (nvcc)" : "not built",
           PROMOE_STATIC_DEPS[0] ? PROMOE_STATIC_DEPS : "nothing");
    return CLI_OK;
}
