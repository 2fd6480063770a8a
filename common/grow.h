/* grow.h - an array that grows by doubling, the one place that does it. */
#ifndef PROMOE_COMMON_GROW_H
#define PROMOE_COMMON_GROW_H

#include <stddef.h>

/* Returns array, reallocated if need > *cap to a capacity that doubles
 * from `first` until it holds `need` elements of `size` bytes (*cap set to
 * it); or NULL when out of memory, leaving array and *cap as they were. */
void *grow_array(void *array, size_t *cap, size_t need, size_t size, size_t first);

/* One of several arrays that grow together, row by row (a token's ids,
 * weights and hidden state): the array's address and its bytes a row (0:
 * an array not kept, left alone). */
typedef struct grow_column {
    void **array;
    size_t row_bytes;
} grow_column;

/* Resizes every column to `rows` rows.  Returns 0, or -1 when memory ran
 * out: then each column holds either its old memory or its new, and every
 * address stays valid to free. */
int grow_columns(const grow_column *columns, size_t n, size_t rows);

#endif
