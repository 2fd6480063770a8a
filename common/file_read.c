#include "common/file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, char **text, size_t *len, promoe_err *err)
{
    *text = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return errno == ENOENT ? 1 : promoe_err_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    errno = 0;
    if (fstat(fd, &st) < 0 || !(*text = malloc((size_t)st.st_size + 1)))
        goto io;
    size_t got = 0;
    while (got < (size_t)st.st_size) { /* a file that grows meanwhile: what was there */
        ssize_t n = read(fd, *text + got, (size_t)st.st_size - got);
        if (n <= 0)
            goto io;
        got += (size_t)n;
    }
    close(fd);
    (*text)[got] = '\0';
    *len = got;
    return 0;
io:
    promoe_err_set(err, "%s: %s", path, errno ? strerror(errno) : "short read");
    free(*text);
    *text = NULL;
    close(fd);
    return -1;
}
