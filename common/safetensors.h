/* safetensors.h - reading safetensors files (Hugging Face's weight format:
 * an 8-byte little-endian header length, a JSON header naming each tensor's
 * dtype, shape and [begin, end) byte offsets into the data that follows).
 * The file is mapped with mmap, so a tensor is read in place; every header
 * entry is checked against the file before any byte of data is touched.
 */
#ifndef PROMOE_COMMON_SAFETENSORS_H
#define PROMOE_COMMON_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum st_dtype { ST_F32, ST_F16, ST_BF16 };

typedef struct st_tensor {
    char *name;
    enum st_dtype dtype;
    int rank;
    int64_t shape[4];
    const void *data;   /* in the mapping */
    size_t bytes;
} st_tensor;

typedef struct st_file {
    char *path;
    void *map;
    size_t size;
    st_tensor *tensors;
    int count;
    char **metadata;    /* the header's __metadata__: key, value, key, ... */
    int metadata_count; /* pairs */
} st_file;

/* Maps and checks PATH.  Tensors of other dtypes (integers, f64, ...) are
 * refused only when asked for (st_tensor_floats). */
int st_open(const char *path, st_file *f, promoe_err *err);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);
/* The string the header's __metadata__ gives KEY, or NULL. */
const char *st_metadata(const st_file *f, const char *key);

/* Converts t's n values (f32, f16 or bf16) to floats in out. */
void st_tensor_floats(const st_tensor *t, float *out);

/* Writes tensors (f32 or f16 from float arrays) as a safetensors file, for
 * tests and for saving synthetic weights; written atomically. */
typedef struct st_out {
    const char *name;
    const float *values;
    int rank;
    int64_t shape[4];
} st_out;
int st_write(const char *path, const st_out *tensors, int count, enum st_dtype dtype,
             promoe_err *err);

#endif
