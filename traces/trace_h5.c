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

void trace_h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

int trace_h5_write_str_attr(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) + 1);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (attr < 0 || H5Awrite(attr, type, value) < 0) ? -1 : 0;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return rc;
}

int trace_h5_write_int_attr(hid_t obj, const char *name, long long value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (attr < 0 || H5Awrite(attr, H5T_NATIVE_LLONG, &value) < 0) ? -1 : 0;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return rc;
}

int trace_h5_read_str_attr(hid_t obj, const char *name, char *buf, size_t len)
{
    int rc = -1;
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ftype = attr >= 0 ? H5Aget_type(attr) : H5I_INVALID_HID;
    if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING)
        goto out;
    if (H5Tis_variable_str(ftype) > 0) {
        char *s = NULL;
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        if (H5Aread(attr, mtype, &s) >= 0 && s) {
            snprintf(buf, len, "%s", s);
            H5free_memory(s);
            rc = 0;
        }
        H5Tclose(mtype);
    } else {
        size_t n = H5Tget_size(ftype);
        char *tmp = calloc(n + 1, 1);
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, n + 1);
        H5Tset_strpad(mtype, H5T_STR_NULLTERM);
        if (tmp && H5Aread(attr, mtype, tmp) >= 0) {
            snprintf(buf, len, "%s", tmp);
            rc = 0;
        }
        H5Tclose(mtype);
        free(tmp);
    }
out:
    if (ftype >= 0)
        H5Tclose(ftype);
    if (attr >= 0)
        H5Aclose(attr);
    return rc;
}

int trace_h5_read_int_attr(hid_t obj, const char *name, long long *value)
{
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0)
        return -1;
    hid_t ftype = H5Aget_type(attr);
    hid_t space = H5Aget_space(attr);
    int rc = (H5Tget_class(ftype) == H5T_INTEGER && H5Sget_simple_extent_npoints(space) == 1 &&
              H5Aread(attr, H5T_NATIVE_LLONG, value) >= 0) ? 0 : -1;
    H5Sclose(space);
    H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}
