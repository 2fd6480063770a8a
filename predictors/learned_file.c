/* learned_file.c - a trained learned predictor as an HDF5 file.
 *
 * Root attributes: format = "promoe-predictor", version = 1, predictor =
 * "learned", num_layers, num_experts, top_k, hidden_dim (the model's), hidden
 * (units of the MLP), options (as trained), and the training figures
 * train_samples, epochs, train_seconds, train_loss, params,
 * flops_per_prediction.  Datasets: strides int32 [n] (the strides trained),
 * and for each stride s, stride_s float32 [L - s][P], or [L][P] when the
 * attribute wrap is 1 (the last layers predicting the next token's first;
 * absent: 0): the model of layer l in row l, its parameters laid out w1 [H][D], b1 [H], w2 [E][H], b2 [E],
 * then v [E][D] when the attribute skip is 1 (absent: 0). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic_file.h"
#include "common/h5_attr.h"
#include "predictors/learned.h"

#define LEARNED_FILE_FORMAT "promoe-predictor"
#define LEARNED_FILE_VERSION 1

static int write_matrix(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims,
                        const void *data)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t set = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (set < 0 || H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) ? -1 : 0;
    if (set >= 0)
        H5Dclose(set);
    H5Sclose(space);
    return rc;
}

static int write_file(const learned *n, hid_t f)
{
    predictor_info info = learned_info(n);
    double figures[4] = {n->seconds, n->loss, info.params, info.flops};
    int strides[LEARNED_MAX_STRIDE], ns = 0;
    for (int s = 1; s <= n->S; s++)
        if (n->stride[s])
            strides[ns++] = s;
    hsize_t count = (hsize_t)ns;
    if (h5_write_str_attr(f, "format", LEARNED_FILE_FORMAT) < 0 ||
        h5_write_int_attr(f, "version", LEARNED_FILE_VERSION) < 0 ||
        h5_write_str_attr(f, "predictor", "learned") < 0 ||
        h5_write_int_attr(f, "num_layers", n->L) < 0 ||
        h5_write_int_attr(f, "num_experts", n->E) < 0 ||
        h5_write_int_attr(f, "top_k", n->K) < 0 ||
        h5_write_int_attr(f, "hidden_dim", n->D) < 0 || h5_write_int_attr(f, "hidden", n->H) < 0 ||
        h5_write_int_attr(f, "skip", n->skip) < 0 || h5_write_int_attr(f, "wrap", n->wrap) < 0 ||
        h5_write_str_attr(f, "options", n->options) < 0 ||
        h5_write_int_attr(f, "train_samples", n->samples) < 0 ||
        h5_write_int_attr(f, "epochs", n->epochs) < 0 ||
        h5_write_doubles_attr(f, "train_seconds", &figures[0], 1) < 0 ||
        h5_write_doubles_attr(f, "train_loss", &figures[1], 1) < 0 ||
        h5_write_doubles_attr(f, "params", &figures[2], 1) < 0 ||
        h5_write_doubles_attr(f, "flops_per_prediction", &figures[3], 1) < 0 ||
        write_matrix(f, "strides", H5T_NATIVE_INT, 1, &count, strides) < 0)
        return -1;
    float *rows = NULL;
    int rc = 0;
    for (int i = 0; i < ns && rc == 0; i++) {
        int s = strides[i];
        size_t layers = (size_t)learned_layers(n, s);
        float *p = realloc(rows, layers * n->params * sizeof *rows);
        if (!p)
            rc = -1;
        else {
            rows = p;
            for (size_t l = 0; l < layers; l++)
                memcpy(rows + l * n->params, n->models[l * (size_t)n->S + (size_t)(s - 1)].p,
                       n->params * sizeof *rows);
            char name[32];
            snprintf(name, sizeof name, "stride_%d", s);
            hsize_t dims[2] = {layers, n->params};
            rc = write_matrix(f, name, H5T_NATIVE_FLOAT, 2, dims, rows);
        }
    }
    free(rows);
    return rc;
}

int learned_file_save(const learned *n, const char *path, promoe_err *err)
{
    atomic_file af;
    if (atomic_file_begin(&af, path, 0, err) < 0)
        return -1;
    h5_quiet();
    hid_t f = h5_create_file(af.tmp_path);
    int rc = f < 0 ? -1 : write_file(n, f);
    if (f >= 0 && H5Fclose(f) < 0)
        rc = -1;
    if (rc < 0) {
        atomic_file_abort(&af);
        return promoe_err_set(err, "%s: cannot write the predictor (disk full?)", path);
    }
    return atomic_file_commit(&af, err);
}

/* Reads dataset `name` of exactly `dims` into out. */
static int read_matrix(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims,
                       void *out)
{
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
        return -1;
    hid_t set = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t space = set >= 0 ? H5Dget_space(set) : H5I_INVALID_HID;
    hsize_t have[2] = {0, 0};
    int ok = space >= 0 && H5Sget_simple_extent_ndims(space) == rank &&
             H5Sget_simple_extent_dims(space, have, NULL) == rank && have[0] == dims[0] &&
             (rank == 1 || have[1] == dims[1]) &&
             H5Dread(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
    if (space >= 0)
        H5Sclose(space);
    if (set >= 0)
        H5Dclose(set);
    return ok ? 0 : -1;
}

static learned *load(hid_t f, const char *path, const predictor_env *env, int B,
                     promoe_err *err)
{
    char format[64] = "";
    long long version = 0, L = 0, E = 0, K = 0, D = 0, H = 0, samples = 0, epochs = 0, skip = 0;
    double seconds = 0, loss = 0;
    if (h5_read_str_attr(f, "format", format, sizeof format) < 0 ||
        strcmp(format, LEARNED_FILE_FORMAT) != 0 || h5_read_int_attr(f, "version", &version) < 0) {
        promoe_err_set(err, "%s is not a promoe predictor file (write one with 'promoe predict "
                       "train')", path);
        return NULL;
    }
    if (version != LEARNED_FILE_VERSION) {
        promoe_err_set(err, "%s: predictor file version %lld; this promoe reads version %d",
                       path, version, LEARNED_FILE_VERSION);
        return NULL;
    }
    if (h5_read_int_attr(f, "num_layers", &L) < 0 || h5_read_int_attr(f, "num_experts", &E) < 0 ||
        h5_read_int_attr(f, "top_k", &K) < 0 || h5_read_int_attr(f, "hidden_dim", &D) < 0 ||
        h5_read_int_attr(f, "hidden", &H) < 0 || H < 1 || H > (1 << 16)) {
        promoe_err_set(err, "%s: missing or bad model dimensions (a damaged predictor file?)",
                       path);
        return NULL;
    }
    if (L != env->num_layers || E != env->num_experts || D != env->hidden_dim) {
        promoe_err_set(err, "%s was trained for %lld layers, %lld experts, hidden %lld: this "
                       "trace has %d, %d, %d", path, L, E, D, env->num_layers, env->num_experts,
                       env->hidden_dim);
        return NULL;
    }
    hsize_t ns = 0;
    hid_t set = H5Lexists(f, "strides", H5P_DEFAULT) > 0 ? H5Dopen2(f, "strides", H5P_DEFAULT)
                                                         : H5I_INVALID_HID;
    if (set >= 0) {
        hid_t space = H5Dget_space(set);
        if (space >= 0 && H5Sget_simple_extent_ndims(space) == 1)
            H5Sget_simple_extent_dims(space, &ns, NULL);
        if (space >= 0)
            H5Sclose(space);
        H5Dclose(set);
    }
    int strides[LEARNED_MAX_STRIDE];
    if (ns < 1 || ns > LEARNED_MAX_STRIDE ||
        read_matrix(f, "strides", H5T_NATIVE_INT, 1, &ns, strides) < 0) {
        promoe_err_set(err, "%s: no list of trained strides (a damaged predictor file?)", path);
        return NULL;
    }
    uint8_t want[LEARNED_MAX_STRIDE + 1] = {0};
    int S = 0;
    char have[256] = "";
    for (hsize_t i = 0; i < ns; i++) {
        if (strides[i] < 1 || strides[i] > LEARNED_MAX_STRIDE) {
            promoe_err_set(err, "%s: stride %d out of range", path, strides[i]);
            return NULL;
        }
        want[strides[i]] = 1;
        S = strides[i] > S ? strides[i] : S;
        snprintf(have + strlen(have), sizeof have - strlen(have), "%s%d", i ? ", " : "",
                 strides[i]);
    }
    for (int s = env->stride_lo; s >= 1 && s <= env->stride_hi; s++)
        if (s > S || !want[s]) {
            promoe_err_set(err, "%s has models for stride %s only, not %d (train one with "
                           "'promoe predict train --predictor learned:stride=%d')", path, have,
                           s, s);
            return NULL;
        }
    if (H5Aexists(f, "skip") > 0 && (h5_read_int_attr(f, "skip", &skip) < 0 || skip < 0 || skip > 1)) {
        promoe_err_set(err, "%s: bad skip attribute (a damaged predictor file?)", path);
        return NULL;
    }
    long long wrap = 0;
    if (H5Aexists(f, "wrap") > 0 && (h5_read_int_attr(f, "wrap", &wrap) < 0 || wrap < 0 || wrap > 1)) {
        promoe_err_set(err, "%s: bad wrap attribute (a damaged predictor file?)", path);
        return NULL;
    }
    learned *n = learned_alloc(env, (int)H, S, want, B, (int)skip, (int)wrap, err);
    if (!n) {
        promoe_err_prefix(err, "%s", path);
        return NULL;
    }
    h5_read_str_attr(f, "options", n->options, sizeof n->options);
    h5_read_int_attr(f, "train_samples", &samples);
    h5_read_int_attr(f, "epochs", &epochs);
    h5_read_doubles_attr(f, "train_seconds", &seconds, 1);
    h5_read_doubles_attr(f, "train_loss", &loss, 1);
    n->samples = samples;
    n->epochs = (int)epochs;
    n->seconds = seconds;
    n->loss = loss;
    float *rows = NULL;
    for (int s = 1; s <= S; s++) {
        if (!want[s])
            continue;
        size_t layers = (size_t)learned_layers(n, s);
        float *p = realloc(rows, (layers ? layers : 1) * n->params * sizeof *rows);
        char name[32];
        snprintf(name, sizeof name, "stride_%d", s);
        hsize_t dims[2] = {layers, n->params};
        if (!p || read_matrix(f, name, H5T_NATIVE_FLOAT, 2, dims, p) < 0) {
            free(p ? p : rows);
            learned_free(n);
            promoe_err_set(err, "%s: %s is missing or not [%zu][%zu] (a damaged predictor file?)",
                           path, name, layers, n->params);
            return NULL;
        }
        rows = p;
        for (size_t l = 0; l < layers; l++)
            memcpy(learned_model(n, (int)l, s)->p, rows + l * n->params,
                   n->params * sizeof *rows);
    }
    free(rows);
    return n;
}

learned *learned_file_load(const char *path, const predictor_env *env, int B, promoe_err *err)
{
    h5_quiet();
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        promoe_err_set(err, "cannot open %s", path);
        return NULL;
    }
    fclose(probe);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        promoe_err_set(err, "%s is not a readable HDF5 file (truncated or damaged?)", path);
        return NULL;
    }
    learned *n = load(f, path, env, B, err);
    H5Fclose(f);
    return n;
}
