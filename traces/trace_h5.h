/* trace_h5.h - private to traces/: how the trace's per-token columns map to
 * HDF5 datasets, shared by the writer and the reader so both agree. */
#ifndef PROMOE_TRACES_TRACE_H5_H
#define PROMOE_TRACES_TRACE_H5_H

#include <hdf5.h>

#include "traces/trace.h"

/* The token-indexed datasets, in a fixed order. */
enum trace_column_id {
    COL_REQUEST,
    COL_POSITION,
    COL_PHASE,
    COL_ITERATION,
    COL_EXPERTS,
    COL_WEIGHTS,
    COL_LOGITS,
    COL_HIDDEN,
    TRACE_NUM_COLUMNS
};

typedef struct trace_column {
    const char *path;   /* dataset path, e.g. "routing/experts" */
    unsigned content;   /* enum trace_content bit, 0 for required columns */
    int rank;           /* 1 for [N], 3 for [N, L, X] */
    size_t elem_size;   /* bytes of one element in memory */
    H5T_class_t class;  /* H5T_INTEGER or H5T_FLOAT, checked on open */
} trace_column;

extern const trace_column trace_columns[TRACE_NUM_COLUMNS];

/* Elements per token in column c: 1, or L*K, L*E, L*D. */
size_t trace_column_width(int c, const trace_meta *m);
/* The inner two dimensions of a rank-3 column: (L, K), (L, E) or (L, D). */
void trace_column_inner_dims(int c, const trace_meta *m, hsize_t dims[2]);
/* In-memory and on-disk types (HDF5 converts between them). */
hid_t trace_column_mem_type(int c);
hid_t trace_column_file_type(int c);

/* 1 for columns stored as float16 (hidden/input): the writer and reader
 * convert these themselves with _Float16, which is exact where HDF5 1.10's
 * float32 -> float16 conversion is not, and much faster. */
int trace_column_is_half(int c);
void trace_h5_floats_to_half(const float *in, uint16_t *out, size_t n);
void trace_h5_half_to_floats(const uint16_t *in, float *out, size_t n);

/* IEEE half precision, as h5py and numpy write float16.  Owned by this
 * module; do not close. */
hid_t trace_h5_float16(void);

#endif
