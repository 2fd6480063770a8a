#include "common/disk_space.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

double disk_free_bytes(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct statvfs fs;
    if (statvfs(dir, &fs) != 0)
        return -1;
    return (double)fs.f_bavail * (double)fs.f_frsize;
}

int disk_check(const char *path, double bytes, const char *what, promoe_err *err)
{
    double have = disk_free_bytes(path);
    if (have < 0 || bytes <= have)
        return 0;
    return promoe_err_set(err, "%s: %s needs about %.1f GiB, more than the %.1f GiB free on its "
                          "file system (write it elsewhere, or make it smaller)", path, what,
                          bytes / 1073741824.0, have / 1073741824.0);
}
