/* learned.h - private to the learned predictor: its models, shared by the
 * code that trains and runs them (learned.c) and the code that saves and
 * loads them (learned_file.c). */
#ifndef PROMOE_PREDICTORS_LEARNED_H
#define PROMOE_PREDICTORS_LEARNED_H

#include <stddef.h>
#include <stdint.h>

#include "common/blas.h"
#include "common/error.h"
#include "predictors/predictor.h"

enum { LEARNED_MAX_STRIDE = 64 };

/* One MLP's parameters, laid out w1 [H][D], b1 [H], w2 [E][H], b2 [E], then
 * with a skip path v [E][D] (logits += v x); its
 * gradient and Adam moments and the mini-batch being collected exist only
 * while training. */
typedef struct learned_mlp {
    float *p, *g, *m, *v;
    long steps;
    float *x, *target; /* [batch][D], [batch][E] */
    int filled;
} learned_mlp;

typedef struct learned {
    const blas_ops *blas;
    int L, E, K, D, H, S, B;
    int skip;              /* a linear path from input to logits beside the MLP */
    int wrap;              /* models for l + s >= L: the next token's layer l + s - L */
    uint8_t stride[LEARNED_MAX_STRIDE + 1]; /* [s]: models for stride s exist */
    float lr;
    learned_mlp *models;   /* [L][S]; [l][s-1] exists when stride[s] and l + s < L
                            * or, with wrap, l + s < 2L */
    size_t params;         /* per model */
    /* scratch for one batch: z1 [B][H], a [B][H], y [B][E], dy [B][E], da [B][H] */
    float *z1, *a, *y, *dy, *da;
    predictor_hidden seen; /* the latest observed layer's input */
    int last_layer;
    /* training figures */
    char options[256];     /* the options it was trained with */
    int64_t samples;       /* (token, layer, stride) examples per epoch */
    int epochs;
    double seconds, loss;  /* loss: mean L1 over the last epoch */
} learned;

/* A predictor of H hidden units for the strides marked in stride[1..S] of
 * env's model, parameters unset; scratch for batches of B.  NULL with err
 * when out of memory or without a BLAS. */
learned *learned_alloc(const predictor_env *env, int H, int S, const uint8_t *stride, int B,
                       int skip, int wrap, promoe_err *err);
/* Layers that have a model for stride s: L - s, or with wrap all L (for
 * s <= L). */
int learned_layers(const learned *n, int s);
void learned_free(learned *n);
learned_mlp *learned_model(learned *n, int layer, int stride);

/* Its size, cost per prediction and training figures. */
predictor_info learned_info(const learned *n);

/* Writes n's models and figures to PATH (HDF5, atomically). */
int learned_file_save(const learned *n, const char *path, promoe_err *err);
/* Reads a file learned_file_save wrote, for env's model; strides
 * lo..hi must be in it. */
learned *learned_file_load(const char *path, const predictor_env *env, int B, promoe_err *err);

#endif
