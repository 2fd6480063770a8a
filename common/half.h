/* half.h - IEEE half precision (float16), as HDF5 traces, safetensors and
 * numpy store it.  The compiler's _Float16 rounds to nearest even and
 * carries into the exponent correctly (HDF5 1.10's own conversion does
 * not; see configure.ac), and is much faster than a library conversion. */
#ifndef PROMOE_COMMON_HALF_H
#define PROMOE_COMMON_HALF_H

#include <stddef.h>
#include <stdint.h>

void half_from_floats(const float *in, uint16_t *out, size_t n);
void half_to_floats(const uint16_t *in, float *out, size_t n);
/* Rounds n floats in place to the nearest float16. */
void half_round(float *v, size_t n);

#endif
