/* trace_h5.h - private to traces/: how the trace's datasets and attributes
 * map to HDF5, generated from the format's one declaration
 * (trace_format.def) and shared by the writer and the reader so both agree. */
#ifndef PROMOE_TRACES_TRACE_H5_H
#define PROMOE_TRACES_TRACE_H5_H

#include <hdf5.h>

#include "traces/trace.h"

/* TRACE_FORMAT_NAME, the value of the format attribute. */
#define TRACE_STRING(name, value) extern const char TRACE_##name[];
#include "traces/trace_format.def"

/* Element types the format uses (trace_format.def's type words). */
enum trace_type {
    TRACE_TYPE_i16, TRACE_TYPE_i32, TRACE_TYPE_i64, TRACE_TYPE_u8,
    TRACE_TYPE_f16, TRACE_TYPE_f32, TRACE_TYPE_f64, TRACE_TYPE_str,
    TRACE_TYPE_int = TRACE_TYPE_i64, /* an integer attribute */
};

/* Dimensions a column or tensor may have besides its first. */
enum trace_dim { TRACE_DIM_1, TRACE_DIM_L, TRACE_DIM_K, TRACE_DIM_E, TRACE_DIM_D };

/* The token-indexed datasets, in a fixed order: COL_REQUEST, ... */
enum trace_column_id {
#define TRACE_COLUMN(id, path, content, type, dim1, dim2) COL_##id,
#include "traces/trace_format.def"
    TRACE_NUM_COLUMNS
};

/* The request table's datasets: TABLE_ID, TABLE_PROMPT_LEN, ... */
enum trace_table_id {
#define TRACE_TABLE(id, path, type) TABLE_##id,
#include "traces/trace_format.def"
    TRACE_NUM_TABLES
};

/* Model tensors: TENSOR_ROUTER_WEIGHT. */
enum trace_tensor_id {
#define TRACE_TENSOR(id, path, content, type, dim0, dim1, dim2) TENSOR_##id,
#include "traces/trace_format.def"
    TRACE_NUM_TENSORS
};

/* Root attributes: ATTR_format, ATTR_version, ... */
enum trace_attr_id {
#define TRACE_ATTR(name, type, required) ATTR_##name,
#include "traces/trace_format.def"
    TRACE_NUM_ATTRS
};

typedef struct trace_column {
    const char *path;   /* dataset path, e.g. "routing/experts" */
    unsigned content;   /* enum trace_content bit, 0 for required columns */
    int type;           /* enum trace_type on disk */
    int dims[2];        /* enum trace_dim after the token dimension */
    int rank;           /* 1 for [N], 3 for [N, dim1, dim2] */
} trace_column;

typedef struct trace_named {
    const char *path;   /* dataset path or attribute name */
    unsigned content;   /* tensors: the content bit */
    int type;           /* enum trace_type */
    int required;       /* attributes */
} trace_named;

extern const trace_column trace_columns[TRACE_NUM_COLUMNS];
extern const trace_named trace_tables[TRACE_NUM_TABLES];
extern const trace_named trace_tensors[TRACE_NUM_TENSORS];
extern const trace_named trace_attrs[TRACE_NUM_ATTRS];

/* Names by id: ATTR_NAME(model) is "model", TABLE_PATH(ID) "requests/id". */
#define ATTR_NAME(name) (trace_attrs[ATTR_##name].path)
#define TABLE_PATH(id) (trace_tables[TABLE_##id].path)
#define TENSOR_PATH(id) (trace_tensors[TENSOR_##id].path)

/* Elements per token in column c: 1, or L*K, L*E, L*D. */
size_t trace_column_width(int c, const trace_meta *m);
/* The inner two dimensions of a rank-3 column: (L, K), (L, E) or (L, D). */
void trace_column_inner_dims(int c, const trace_meta *m, hsize_t dims[2]);
/* The size of dimension d (enum trace_dim) in a trace of shape m. */
hsize_t trace_dim_size(int d, const trace_meta *m);
/* In-memory and on-disk types of column c (HDF5 converts between them). */
hid_t trace_column_mem_type(int c);
hid_t trace_column_file_type(int c);
/* The on-disk type of a format type; a str is TRACE_DATASET_NAME_MAX wide.
 * Owned by this module; do not close. */
hid_t trace_type_file(int type);
/* The HDF5 class of a format type. */
H5T_class_t trace_type_class(int type);
/* Bytes of one element of column c in memory (float16 is held as float). */
size_t trace_column_elem_size(int c);

/* 1 for columns stored as float16 (hidden/input): the writer and reader
 * convert these themselves (common/half.h), exactly, where HDF5 1.10's
 * float32 -> float16 conversion is not exact. */
int trace_column_is_half(int c);

/* IEEE half precision, as h5py and numpy write float16.  Owned by this
 * module; do not close. */
hid_t trace_h5_float16(void);

#endif
