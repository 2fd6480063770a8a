#include "common/grow.h"

#include <stdint.h>
#include <stdlib.h>

void *grow_array(void *array, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return array;
    size_t c = *cap ? *cap : first;
    while (c < need) {
        if (c > SIZE_MAX / 2 / size)
            return NULL;
        c *= 2;
    }
    if (c > SIZE_MAX / size)
        return NULL;
    void *p = realloc(array, c * size);
    if (p)
        *cap = c;
    return p;
}

int grow_columns(const grow_column *columns, size_t n, size_t rows)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b = columns[i].row_bytes;
        if (b == 0)
            continue;
        void *p = rows <= SIZE_MAX / b ? realloc(*columns[i].array, rows * b) : NULL;
        if (p)
            *columns[i].array = p;
        else
            failed = 1;
    }
    return failed ? -1 : 0;
}
