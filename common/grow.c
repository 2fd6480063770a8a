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
