/* grow.h - an array that grows by doubling, the one place that does it. */
#ifndef PROMOE_COMMON_GROW_H
#define PROMOE_COMMON_GROW_H

#include <stddef.h>

/* Returns array, reallocated if need > *cap to a capacity that doubles
 * from `first` until it holds `need` elements of `size` bytes (*cap set to
 * it); or NULL when out of memory, leaving array and *cap as they were. */
void *grow_array(void *array, size_t *cap, size_t need, size_t size, size_t first);

#endif
