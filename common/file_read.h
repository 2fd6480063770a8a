/* file_read.h - a whole (small) file into memory. */
#ifndef PROMOE_COMMON_FILE_READ_H
#define PROMOE_COMMON_FILE_READ_H

#include <stddef.h>

#include "common/error.h"

/* Reads the file at path into *text (NUL-terminated, *len bytes before the
 * NUL; the caller frees it).  Returns 0, 1 when there is no such file
 * (*text NULL, *len 0), or -1 with an error naming the file. */
int file_read_all(const char *path, char **text, size_t *len, promoe_err *err);

#endif
