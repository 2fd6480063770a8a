#include "common/h5_attr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hid_t h5_create_file(const char *path)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t f = H5I_INVALID_HID;
    if (fcpl >= 0 && fapl >= 0 && H5Pset_obj_track_times(fcpl, 0) >= 0 &&
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) >= 0)
        f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    return f;
}

void h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

int h5_write_str_attr(hid_t obj, const char *name, const char *value)
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

int h5_write_int_attr(hid_t obj, const char *name, long long value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (attr < 0 || H5Awrite(attr, H5T_NATIVE_LLONG, &value) < 0) ? -1 : 0;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return rc;
}

int h5_write_doubles_attr(hid_t obj, const char *name, const double *values, size_t n)
{
    hsize_t dims[1] = {n};
    hid_t space = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    hid_t attr = H5Acreate2(obj, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (attr < 0 || H5Awrite(attr, H5T_NATIVE_DOUBLE, values) < 0) ? -1 : 0;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return rc;
}

int h5_read_str_attr(hid_t obj, const char *name, char *buf, size_t len)
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

/* Reads n numbers as mem_type; integers only, or floats too. */
static int read_numbers(hid_t obj, const char *name, hid_t mem_type, int floats_too, void *out,
                        size_t n)
{
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0)
        return -1;
    hid_t ftype = H5Aget_type(attr);
    hid_t space = H5Aget_space(attr);
    H5T_class_t cls = H5Tget_class(ftype);
    int rc = ((cls == H5T_INTEGER || (floats_too && cls == H5T_FLOAT)) &&
              H5Sget_simple_extent_npoints(space) == (hssize_t)n &&
              H5Aread(attr, mem_type, out) >= 0) ? 0 : -1;
    H5Sclose(space);
    H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

int h5_read_int_attr(hid_t obj, const char *name, long long *value)
{
    return read_numbers(obj, name, H5T_NATIVE_LLONG, 0, value, 1);
}

int h5_read_doubles_attr(hid_t obj, const char *name, double *values, size_t n)
{
    return read_numbers(obj, name, H5T_NATIVE_DOUBLE, 1, values, n);
}
