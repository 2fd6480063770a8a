#include "common/half.h"

#include <string.h>

void half_from_floats(const float *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        _Float16 h = (_Float16)in[i];
        memcpy(&out[i], &h, sizeof h);
    }
}

void half_to_floats(const uint16_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        _Float16 h;
        memcpy(&h, &in[i], sizeof h);
        out[i] = (float)h;
    }
}

void half_round(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(_Float16)v[i];
}
