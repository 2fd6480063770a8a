/* fuzz_file.h - for harnesses whose parser reads a file: the input
 * written to a per-process path, in memory (tmpfs) where the machine has
 * /dev/shm, since the disk would bound the executions a second. */
#ifndef PROMOE_FUZZ_FILE_H
#define PROMOE_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes data to the harness's file (named once, ending in ext); returns
 * its path, or NULL if it cannot be written. */
static inline const char *fuzz_write_file(const uint8_t *data, size_t size, const char *ext)
{
    static char path[64];
    if (!path[0]) {
        struct stat st;
        const char *dir = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/promoe-fuzz-%ld%s", dir, (long)getpid(), ext);
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    size_t wrote = fwrite(data, 1, size, f);
    return fclose(f) == 0 && wrote == size ? path : NULL;
}

#endif
