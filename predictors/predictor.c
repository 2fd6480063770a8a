#include "predictors/predictor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/registry.h"

extern const predictor_ops predictor_none, predictor_oracle, predictor_prev_token,
    predictor_popularity, predictor_cross_layer, predictor_gate_reuse, predictor_eam,
    predictor_learned;

/* The registry: one line per predictor. */
const predictor_ops *const predictor_registry[] = {
    &predictor_none,
    &predictor_oracle,
    &predictor_prev_token,
    &predictor_popularity,
    &predictor_cross_layer,
    &predictor_gate_reuse,
    &predictor_eam,
    &predictor_learned,
    NULL,
};

const predictor_ops *predictor_find(const char *name)
{
    return registry_find((const void *const *)predictor_registry, name);
}

const char *predictor_names(void)
{
    static char buf[256];
    if (!buf[0])
        registry_names((const void *const *)predictor_registry, buf, sizeof buf);
    return buf;
}

/* Copies row `layer` of each of n [L][width] blocks into dst [n][width]. */
static void gather(void *dst, const void *src, size_t n, int L, int layer, size_t row_bytes)
{
    for (size_t t = 0; t < n; t++)
        memcpy((char *)dst + t * row_bytes,
               (const char *)src + (t * (size_t)L + (size_t)layer) * row_bytes, row_bytes);
}

int predictor_obs_fill(predictor_obs_buf *buf, predictor_obs *obs, int layer, size_t n, int L,
                       int K, int D, const int32_t *request, const int32_t *position,
                       const int16_t *experts, const float *hidden)
{
    if (n > buf->ids_cap) {
        int16_t *p = realloc(buf->ids, n * (size_t)K * sizeof *p);
        if (!p)
            return -1;
        buf->ids = p;
        buf->ids_cap = n;
    }
    if (hidden && n > buf->hidden_cap) {
        float *h = realloc(buf->hidden, n * (size_t)D * sizeof *h);
        if (!h)
            return -1;
        buf->hidden = h;
        buf->hidden_cap = n;
    }
    gather(buf->ids, experts, n, L, layer, (size_t)K * sizeof *buf->ids);
    if (hidden)
        gather(buf->hidden, hidden, n, L, layer, (size_t)D * sizeof *buf->hidden);
    *obs = (predictor_obs){.layer = layer, .num_tokens = n, .request = request,
                           .position = position, .experts = buf->ids,
                           .hidden = hidden ? buf->hidden : NULL};
    return 0;
}

void predictor_obs_buf_free(predictor_obs_buf *buf)
{
    free(buf->ids);
    free(buf->hidden);
    memset(buf, 0, sizeof *buf);
}
