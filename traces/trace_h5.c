#include "traces/trace_h5.h"

#include <stdlib.h>
#include <string.h>

const trace_column trace_columns[TRACE_NUM_COLUMNS] = {
    [COL_REQUEST] = {"tokens/request", 0, 1, sizeof(int32_t), H5T_INTEGER},
    [COL_POSITION] = {"tokens/position", 0, 1, sizeof(int32_t), H5T_INTEGER},
    [COL_PHASE] = {"tokens/phase", 0, 1, sizeof(uint8_t), H5T_INTEGER},
    [COL_ITERATION] = {"tokens/iteration", 0, 1, sizeof(int32_t), H5T_INTEGER},
    [COL_EXPERTS] = {"routing/experts", 0, 3, sizeof(int16_t), H5T_INTEGER},
    [COL_WEIGHTS] = {"routing/weights", TRACE_WEIGHTS, 3, sizeof(float), H5T_FLOAT},
    [COL_LOGITS] = {"routing/logits", TRACE_LOGITS, 3, sizeof(float), H5T_FLOAT},
    [COL_HIDDEN] = {"hidden/input", TRACE_HIDDEN, 3, sizeof(float), H5T_FLOAT},
};

void trace_column_inner_dims(int c, const trace_meta *m, hsize_t dims[2])
{
    dims[0] = (hsize_t)m->num_layers;
    switch (c) {
    case COL_EXPERTS:
    case COL_WEIGHTS: dims[1] = (hsize_t)m->top_k; break;
    case COL_LOGITS: dims[1] = (hsize_t)m->num_experts; break;
    case COL_HIDDEN: dims[1] = (hsize_t)m->hidden_dim; break;
    default: dims[0] = dims[1] = 1; break;
    }
}

size_t trace_column_width(int c, const trace_meta *m)
{
    hsize_t d[2];
    trace_column_inner_dims(c, m, d);
    return (size_t)(d[0] * d[1]);
}

hid_t trace_column_mem_type(int c)
{
    switch (c) {
    case COL_PHASE: return H5T_NATIVE_UINT8;
    case COL_EXPERTS: return H5T_NATIVE_INT16;
    case COL_WEIGHTS:
    case COL_LOGITS:
    case COL_HIDDEN: return H5T_NATIVE_FLOAT;
    default: return H5T_NATIVE_INT32;
    }
}

hid_t trace_column_file_type(int c)
{
    switch (c) {
    case COL_PHASE: return H5T_STD_U8LE;
    case COL_EXPERTS: return H5T_STD_I16LE;
    case COL_WEIGHTS:
    case COL_LOGITS: return H5T_IEEE_F32LE;
    case COL_HIDDEN: return trace_h5_float16();
    default: return H5T_STD_I32LE;
    }
}

int trace_column_is_half(int c)
{
    return c == COL_HIDDEN;
}

/* The compiler's conversion rounds to nearest even and carries into the
 * exponent correctly; HDF5 1.10's does not (see configure.ac). */
void trace_h5_floats_to_half(const float *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        _Float16 h = (_Float16)in[i];
        memcpy(&out[i], &h, sizeof h);
    }
}

void trace_h5_half_to_floats(const uint16_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        _Float16 h;
        memcpy(&h, &in[i], sizeof h);
        out[i] = (float)h;
    }
}

void trace_round_stored(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(_Float16)v[i];
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
