/* h5_attr.h - HDF5 attributes of the kinds promoe's files carry (strings,
 * integers, doubles), and silencing HDF5's own error printing: errors are
 * reported by promoe, in one line. */
#ifndef PROMOE_COMMON_H5_ATTR_H
#define PROMOE_COMMON_H5_ATTR_H

#include <hdf5.h>
#include <stddef.h>

/* Turns off HDF5's printing of its error stack. */
void h5_quiet(void);

/* Creates (truncates) an HDF5 file whose metadata carries checksums (the
 * 1.8 file format and later: superblock v2, object header v2), so that a
 * damaged header is refused by the library instead of parsed; no object
 * times, so the same content gives the same bytes.  H5I_INVALID_HID on
 * failure. */
hid_t h5_create_file(const char *path);

/* Each returns 0, or -1 when the attribute cannot be written or is missing
 * or of another kind or size. */
int h5_write_str_attr(hid_t obj, const char *name, const char *value);
int h5_write_int_attr(hid_t obj, const char *name, long long value);
/* A scalar (n == 1) or a 1-D array of n doubles. */
int h5_write_doubles_attr(hid_t obj, const char *name, const double *values, size_t n);
/* Reads a fixed- or variable-length string attribute into buf. */
int h5_read_str_attr(hid_t obj, const char *name, char *buf, size_t len);
int h5_read_int_attr(hid_t obj, const char *name, long long *value);
/* Exactly n numbers (n == 1: a scalar). */
int h5_read_doubles_attr(hid_t obj, const char *name, double *values, size_t n);

#endif
