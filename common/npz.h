/* npz.h - reading numpy's .npz archives (numpy.savez and savez_compressed):
 * a zip archive (read with libzip) of .npy arrays, each a small text header
 * naming the element type and shape, then the elements in C order.
 *
 * Arrays are read whole into memory; each header is checked against the
 * bytes that follow it before any element is used.  Little-endian integers
 * and floats (16, 32 or 64 bits) of rank at most 4 are read; anything else
 * (Fortran order, big-endian, objects, strings) is refused by name.
 */
#ifndef PROMOE_COMMON_NPZ_H
#define PROMOE_COMMON_NPZ_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct npz_array {
    char *name;        /* the entry's name without ".npy" */
    char kind;         /* 'f' float, 'i' signed, 'u' unsigned integer */
    int item_size;     /* bytes of one element */
    int rank;
    int64_t shape[4];
    size_t count;      /* elements */
    void *data;        /* count elements, little-endian, C order */
} npz_array;

typedef struct npz_file {
    npz_array *arrays;
    int count;
} npz_file;

/* Reads every array of the archive at PATH. */
int npz_read(const char *path, npz_file *f, promoe_err *err);
void npz_free(npz_file *f);
const npz_array *npz_find(const npz_file *f, const char *name);

/* An array's elements as floats or as 64-bit integers (a float array as
 * integers only where every value is whole). */
void npz_array_floats(const npz_array *a, float *out);
int npz_array_ints(const npz_array *a, int64_t *out, promoe_err *err);

#endif
