#include "common/memory.h"

#include <unistd.h>

double memory_physical_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

int memory_check(double bytes, const char *what, promoe_err *err)
{
    double have = memory_physical_bytes();
    if (have <= 0 || bytes <= have)
        return 0;
    return promoe_err_set(err, "%s needs %.1f GiB, more than this machine's %.1f GiB of memory",
                          what, bytes / 1073741824.0, have / 1073741824.0);
}
