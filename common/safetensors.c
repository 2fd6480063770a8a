#include "common/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/half.h"

#define ST_MAX_HEADER (100u << 20) /* the format's own limit */

static const struct {
    const char *name;
    enum st_dtype dtype;
    size_t size;
} dtypes[] = {{"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2}};

void st_close(st_file *f)
{
    for (int i = 0; i < f->count; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < 2 * f->metadata_count; i++)
        free(f->metadata[i]);
    free(f->metadata);
    if (f->map && f->map != MAP_FAILED)
        munmap(f->map, f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* One header entry into t; checked against the data's extent. */
static int read_entry(st_file *f, const char *name, json_t *v, const uint8_t *data,
                      size_t data_bytes, st_tensor *t, promoe_err *err)
{
    const char *dtype = json_string_value(json_object_get(v, "dtype"));
    json_t *shape = json_object_get(v, "shape"), *offsets = json_object_get(v, "data_offsets");
    if (!dtype || !json_is_array(shape) || !json_is_array(offsets) ||
        json_array_size(offsets) != 2 || json_array_size(shape) > 4)
        return promoe_err_set(err, "%s: tensor %s: expected dtype, shape (rank at most 4) and "
                              "data_offsets", f->path, name);
    size_t size = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtype, dtypes[i].name) == 0) {
            t->dtype = dtypes[i].dtype;
            size = dtypes[i].size;
        }
    json_int_t begin = json_integer_value(json_array_get(offsets, 0));
    json_int_t end = json_integer_value(json_array_get(offsets, 1));
    if (begin < 0 || end < begin || (size_t)end > data_bytes)
        return promoe_err_set(err, "%s: tensor %s: data_offsets [%lld, %lld) outside the %zu "
                              "data bytes (truncated or corrupt)", f->path, name,
                              (long long)begin, (long long)end, data_bytes);
    double values = 1;
    t->rank = (int)json_array_size(shape);
    for (int i = 0; i < t->rank; i++) {
        json_int_t n = json_integer_value(json_array_get(shape, (size_t)i));
        if (!json_is_integer(json_array_get(shape, (size_t)i)) || n < 0)
            return promoe_err_set(err, "%s: tensor %s: a bad shape", f->path, name);
        t->shape[i] = n;
        values *= (double)n;
    }
    if (size && values * (double)size != (double)(end - begin))
        return promoe_err_set(err, "%s: tensor %s: its shape needs %.0f bytes of %s, its offsets "
                              "give %lld", f->path, name, values * (double)size, dtype,
                              (long long)(end - begin));
    if (!size)
        t->dtype = (enum st_dtype)-1; /* another dtype: refused if used */
    t->name = strdup(name);
    t->data = data + begin;
    t->bytes = (size_t)(end - begin);
    return t->name ? 0 : promoe_err_set(err, "out of memory");
}

/* The string pairs of __metadata__ (the format allows no other values). */
static int read_metadata(st_file *f, json_t *meta, promoe_err *err)
{
    if (!json_is_object(meta))
        return promoe_err_set(err, "%s: __metadata__ is not a JSON object", f->path);
    f->metadata = calloc(2 * json_object_size(meta) + 1, sizeof *f->metadata);
    if (!f->metadata)
        return promoe_err_set(err, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return promoe_err_set(err, "%s: __metadata__ value of %s is not a string", f->path,
                                  key);
        char **pair = &f->metadata[2 * f->metadata_count];
        pair[0] = strdup(key);
        pair[1] = strdup(json_string_value(v));
        f->metadata_count++;
        if (!pair[0] || !pair[1])
            return promoe_err_set(err, "out of memory");
    }
    return 0;
}

const char *st_metadata(const st_file *f, const char *key)
{
    for (int i = 0; i < f->metadata_count; i++)
        if (strcmp(f->metadata[2 * i], key) == 0)
            return f->metadata[2 * i + 1];
    return NULL;
}

int st_open(const char *path, st_file *f, promoe_err *err)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return promoe_err_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 8) {
        close(fd);
        return promoe_err_set(err, "%s: not a safetensors file (shorter than its header length)",
                              path);
    }
    f->size = (size_t)st.st_size;
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    f->path = strdup(path);
    if (f->map == MAP_FAILED || !f->path) {
        st_close(f);
        return promoe_err_set(err, "%s: cannot map the file", path);
    }
    const uint8_t *bytes = f->map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | bytes[i];
    if (n > ST_MAX_HEADER || n > f->size - 8) {
        st_close(f);
        return promoe_err_set(err, "%s: header of %llu bytes in a %zu-byte file (not safetensors, "
                              "or truncated)", path, (unsigned long long)n, (size_t)st.st_size);
    }
    json_error_t jerr;
    json_t *h = json_loadb((const char *)bytes + 8, (size_t)n, 0, &jerr);
    if (!json_is_object(h)) {
        json_decref(h);
        st_close(f);
        return promoe_err_set(err, "%s: the header is not a JSON object (%s)", path, jerr.text);
    }
    f->tensors = calloc(json_object_size(h) + 1, sizeof *f->tensors);
    int rc = f->tensors ? 0 : promoe_err_set(err, "out of memory");
    const char *name;
    json_t *v;
    json_object_foreach(h, name, v) {
        if (rc < 0)
            break;
        if (strcmp(name, "__metadata__") == 0) {
            rc = read_metadata(f, v, err);
            continue;
        }
        rc = read_entry(f, name, v, bytes + 8 + n, f->size - 8 - n, &f->tensors[f->count], err);
        if (rc == 0)
            f->count++;
    }
    json_decref(h);
    if (rc < 0)
        st_close(f);
    return rc;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

void st_tensor_floats(const st_tensor *t, float *out)
{
    size_t n = t->bytes / (t->dtype == ST_F32 ? 4 : 2);
    if (t->dtype == ST_F32) {
        memcpy(out, t->data, t->bytes);
    } else if (t->dtype == ST_F16) {
        half_to_floats(t->data, out, n);
    } else { /* bf16: the high half of a float */
        const uint16_t *in = t->data;
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)in[i] << 16;
            memcpy(&out[i], &bits, sizeof bits);
        }
    }
}

int st_write(const char *path, const st_out *tensors, int count, enum st_dtype dtype,
             promoe_err *err)
{
    size_t size = dtype == ST_F32 ? 4 : 2, offset = 0;
    json_t *h = json_object();
    for (int i = 0; i < count; i++) {
        json_t *shape = json_array();
        size_t n = 1;
        for (int d = 0; d < tensors[i].rank; d++) {
            json_array_append_new(shape, json_integer(tensors[i].shape[d]));
            n *= (size_t)tensors[i].shape[d];
        }
        json_object_set_new(h, tensors[i].name,
                            json_pack("{s:s, s:o, s:[I, I]}", "dtype",
                                      dtype == ST_F32 ? "F32" : "F16", "shape", shape,
                                      "data_offsets", (json_int_t)offset,
                                      (json_int_t)(offset + n * size)));
        offset += n * size;
    }
    char *text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (!text)
        return promoe_err_set(err, "out of memory");
    atomic_file af;
    if (atomic_file_begin(&af, path, 1, err) < 0) {
        free(text);
        return -1;
    }
    uint64_t n = strlen(text);
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(n >> (8 * i));
    int ok = fwrite(len, 1, 8, af.fp) == 8 && fwrite(text, 1, n, af.fp) == n;
    free(text);
    for (int i = 0; i < count && ok; i++) {
        size_t values = 1;
        for (int d = 0; d < tensors[i].rank; d++)
            values *= (size_t)tensors[i].shape[d];
        if (dtype == ST_F32) {
            ok = fwrite(tensors[i].values, 4, values, af.fp) == values;
        } else {
            uint16_t *half = malloc(values * sizeof *half);
            ok = half != NULL;
            if (ok) {
                half_from_floats(tensors[i].values, half, values);
                ok = fwrite(half, 2, values, af.fp) == values;
            }
            free(half);
        }
    }
    if (!ok) {
        atomic_file_abort(&af);
        return promoe_err_set(err, "%s: cannot write the tensors", path);
    }
    return atomic_file_commit(&af, err);
}
