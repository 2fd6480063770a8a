#include "traces/trace_h5.h"

#include "common/half.h"

#include <stdlib.h>
#include <string.h>

#define TRACE_STRING(name, value) const char TRACE_##name[] = value;
#include "traces/trace_format.def"

/* The element class and in-memory size of each format type. */
H5T_class_t trace_type_class(int type)
{
    switch (type) {
    case TRACE_TYPE_f16:
    case TRACE_TYPE_f32:
    case TRACE_TYPE_f64: return H5T_FLOAT;
    case TRACE_TYPE_str: return H5T_STRING;
    default: return H5T_INTEGER;
    }
}

size_t trace_column_elem_size(int c)
{
    switch (trace_columns[c].type) {
    case TRACE_TYPE_u8: return 1;
    case TRACE_TYPE_i16: return 2;
    case TRACE_TYPE_i64:
    case TRACE_TYPE_f64: return 8;
    default: return 4; /* i32, f32, and f16 read as float */
    }
}

#define IS_RANK1(d1, d2) (TRACE_DIM_##d1 == TRACE_DIM_1 && TRACE_DIM_##d2 == TRACE_DIM_1)
const trace_column trace_columns[TRACE_NUM_COLUMNS] = {
#define TRACE_COLUMN(id, path, content, type, d1, d2)                                        \
    [COL_##id] = {path, content, TRACE_TYPE_##type, {TRACE_DIM_##d1, TRACE_DIM_##d2},        \
                  IS_RANK1(d1, d2) ? 1 : 3},
#include "traces/trace_format.def"
};

const trace_named trace_tables[TRACE_NUM_TABLES] = {
#define TRACE_TABLE(id, path, type) [TABLE_##id] = {path, 0, TRACE_TYPE_##type, 1},
#include "traces/trace_format.def"
};

const trace_named trace_tensors[TRACE_NUM_TENSORS] = {
#define TRACE_TENSOR(id, path, content, type, d0, d1, d2) \
    [TENSOR_##id] = {path, content, TRACE_TYPE_##type, 0},
#include "traces/trace_format.def"
};

const trace_named trace_attrs[TRACE_NUM_ATTRS] = {
#define TRACE_ATTR(name, type, required) [ATTR_##name] = {#name, 0, TRACE_TYPE_##type, required},
#include "traces/trace_format.def"
};

hsize_t trace_dim_size(int d, const trace_meta *m)
{
    switch (d) {
    case TRACE_DIM_L: return (hsize_t)m->num_layers;
    case TRACE_DIM_K: return (hsize_t)m->top_k;
    case TRACE_DIM_E: return (hsize_t)m->num_experts;
    case TRACE_DIM_D: return (hsize_t)m->hidden_dim;
    default: return 1;
    }
}

void trace_column_inner_dims(int c, const trace_meta *m, hsize_t dims[2])
{
    dims[0] = trace_dim_size(trace_columns[c].dims[0], m);
    dims[1] = trace_dim_size(trace_columns[c].dims[1], m);
}

size_t trace_column_width(int c, const trace_meta *m)
{
    hsize_t d[2];
    trace_column_inner_dims(c, m, d);
    return (size_t)(d[0] * d[1]);
}

static hid_t mem_type(int type)
{
    switch (type) {
    case TRACE_TYPE_u8: return H5T_NATIVE_UINT8;
    case TRACE_TYPE_i16: return H5T_NATIVE_INT16;
    case TRACE_TYPE_i64: return H5T_NATIVE_INT64;
    case TRACE_TYPE_f16:
    case TRACE_TYPE_f32: return H5T_NATIVE_FLOAT;
    case TRACE_TYPE_f64: return H5T_NATIVE_DOUBLE;
    default: return H5T_NATIVE_INT32;
    }
}

hid_t trace_column_mem_type(int c)
{
    return mem_type(trace_columns[c].type);
}

hid_t trace_type_file(int type)
{
    static hid_t str = H5I_INVALID_HID;
    switch (type) {
    case TRACE_TYPE_u8: return H5T_STD_U8LE;
    case TRACE_TYPE_i16: return H5T_STD_I16LE;
    case TRACE_TYPE_i64: return H5T_STD_I64LE;
    case TRACE_TYPE_f16: return trace_h5_float16();
    case TRACE_TYPE_f32: return H5T_IEEE_F32LE;
    case TRACE_TYPE_f64: return H5T_IEEE_F64LE;
    case TRACE_TYPE_str:
        if (str == H5I_INVALID_HID) {
            str = H5Tcopy(H5T_C_S1);
            H5Tset_size(str, TRACE_DATASET_NAME_MAX);
            H5Tset_strpad(str, H5T_STR_NULLTERM);
        }
        return str;
    default: return H5T_STD_I32LE;
    }
}

hid_t trace_column_file_type(int c)
{
    return trace_type_file(trace_columns[c].type);
}

int trace_column_is_half(int c)
{
    return trace_columns[c].type == TRACE_TYPE_f16;
}

void trace_round_stored(float *v, size_t n)
{
    half_round(v, n);
}

int trace_record_missing(const int16_t *experts, int top_k)
{
    for (int k = 0; k < top_k; k++)
        if (experts[k] >= 0)
            return 0;
    return 1;
}

hid_t trace_h5_float16(void)
{
    static hid_t half = H5I_INVALID_HID;
    if (half == H5I_INVALID_HID) {
        /* 1 sign bit at 15, 5 exponent bits at 10, 10 mantissa bits. */
        hid_t t = H5Tcopy(H5T_IEEE_F32LE);
        H5Tset_fields(t, 15, 10, 5, 0, 10);
        H5Tset_size(t, 2);
        H5Tset_ebias(t, 15);
        H5Tset_precision(t, 16);
        half = t;
    }
    return half;
}
