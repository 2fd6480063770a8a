#include "common/npz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "common/half.h"
#include "common/lazylib.h"
#include "config.h"

/* libzip, opened when an archive is first read (common/lazylib.h): only
 * the router-logits importer reads one, and libzip brings OpenSSL. */
static struct {
    zip_t *(*open)(const char *, int, int *);
    zip_int64_t (*get_num_entries)(zip_t *, zip_flags_t);
    const char *(*get_name)(zip_t *, zip_uint64_t, zip_flags_t);
    int (*stat_index)(zip_t *, zip_uint64_t, zip_flags_t, zip_stat_t *);
    zip_file_t *(*fopen_index)(zip_t *, zip_uint64_t, zip_flags_t);
    zip_int64_t (*fread)(zip_file_t *, void *, zip_uint64_t);
    int (*fclose)(zip_file_t *);
    void (*discard)(zip_t *);
    void (*error_init_with_code)(zip_error_t *, int);
    const char *(*error_strerror)(zip_error_t *);
    void (*error_fini)(zip_error_t *);
} lz;

static const lazylib_symbol lz_symbols[] = {
    {"zip_open", (void **)&lz.open},
    {"zip_get_num_entries", (void **)&lz.get_num_entries},
    {"zip_get_name", (void **)&lz.get_name},
    {"zip_stat_index", (void **)&lz.stat_index},
    {"zip_fopen_index", (void **)&lz.fopen_index},
    {"zip_fread", (void **)&lz.fread},
    {"zip_fclose", (void **)&lz.fclose},
    {"zip_discard", (void **)&lz.discard},
    {"zip_error_init_with_code", (void **)&lz.error_init_with_code},
    {"zip_error_strerror", (void **)&lz.error_strerror},
    {"zip_error_fini", (void **)&lz.error_fini},
};

static lazylib libzip = {LIBZIP_SONAME, "libzip4", lz_symbols,
                         sizeof lz_symbols / sizeof lz_symbols[0], 0, ""};

#define NPY_MAGIC "\x93NUMPY"
#define NPZ_MAX_ARRAY_BYTES (8ull << 30) /* a sanity bound on one entry */

void npz_free(npz_file *f)
{
    for (int i = 0; i < f->count; i++) {
        free(f->arrays[i].name);
        free(f->arrays[i].data);
    }
    free(f->arrays);
    memset(f, 0, sizeof *f);
}

const npz_array *npz_find(const npz_file *f, const char *name)
{
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->arrays[i].name, name) == 0)
            return &f->arrays[i];
    return NULL;
}

/* The value text after 'key': in a .npy header dict, or NULL. */
static const char *header_value(const char *h, const char *key)
{
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s':", key);
    const char *p = strstr(h, quoted);
    if (!p)
        return NULL;
    p += strlen(quoted);
    while (*p == ' ')
        p++;
    return p;
}

/* Parses a .npy header ({'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }). */
static int parse_header(const char *h, npz_array *a, const char *where, promoe_err *err)
{
    const char *descr = header_value(h, "descr"), *order = header_value(h, "fortran_order");
    const char *shape = header_value(h, "shape");
    if (!descr || !order || !shape || *descr != '\'' || *shape != '(')
        return promoe_err_set(err, "%s: not a numpy array header", where);
    char end = 0, kind = 0;
    char byteorder = 0;
    int size = 0;
    if (sscanf(descr, "'%c%c%d%c", &byteorder, &kind, &size, &end) != 4 || end != '\'')
        return promoe_err_set(err, "%s: element type %.12s is not a plain number", where, descr);
    if (byteorder == '>')
        return promoe_err_set(err, "%s: big-endian data (save it as little-endian)", where);
    int ok = (kind == 'f' && (size == 2 || size == 4 || size == 8)) ||
             ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8));
    if (!ok)
        return promoe_err_set(err, "%s: element type %c%d is not read (floats of 2, 4 or 8 "
                              "bytes, integers of 1 to 8)", where, kind, size);
    if (strncmp(order, "False", 5) != 0)
        return promoe_err_set(err, "%s: Fortran-ordered data (save numpy.ascontiguousarray of "
                              "it)", where);
    a->kind = kind;
    a->item_size = size;
    a->rank = 0;
    a->count = 1;
    const char *p = shape + 1;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *next;
        long long n = strtoll(p, &next, 10);
        if (next == p || n < 0 || a->rank == 4)
            return promoe_err_set(err, "%s: a shape of rank above 4 or not whole numbers", where);
        a->shape[a->rank++] = n;
        a->count *= (size_t)n;
        p = next;
    }
    return 0;
}

/* Reads one .npy entry of the archive into a. */
static int read_entry(zip_t *z, zip_uint64_t index, const char *path, npz_array *a,
                      promoe_err *err)
{
    zip_stat_t st;
    const char *name = lz.get_name(z, index, 0);
    char where[512];
    snprintf(where, sizeof where, "%s: %s", path, name ? name : "?");
    if (!name || lz.stat_index(z, index, 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE))
        return promoe_err_set(err, "%s: unreadable archive entry", where);
    if (st.size < 10 || st.size > NPZ_MAX_ARRAY_BYTES)
        return promoe_err_set(err, "%s: %llu bytes is no numpy array", where,
                              (unsigned long long)st.size);
    unsigned char *buf = malloc(st.size);
    zip_file_t *zf = lz.fopen_index(z, index, 0);
    zip_int64_t got = zf && buf ? lz.fread(zf, buf, st.size) : -1;
    if (zf)
        lz.fclose(zf);
    if (got != (zip_int64_t)st.size) {
        free(buf);
        return promoe_err_set(err, "%s: cannot read it (corrupt or truncated archive)", where);
    }
    int rc = -1;
    size_t header_at = buf[6] == 1 ? 10 : 12, header_len;
    if (memcmp(buf, NPY_MAGIC, 6) != 0 || buf[6] < 1 || buf[6] > 3) {
        promoe_err_set(err, "%s: not a .npy array (no NUMPY magic)", where);
        goto out;
    }
    header_len = buf[6] == 1 ? (size_t)(buf[8] | buf[9] << 8)
                             : (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
                                   (size_t)buf[11] << 24;
    if (header_at + header_len > st.size) {
        promoe_err_set(err, "%s: header runs past the array's end", where);
        goto out;
    }
    char *h = strndup((const char *)buf + header_at, header_len);
    rc = h ? parse_header(h, a, where, err) : promoe_err_set(err, "out of memory");
    free(h);
    if (rc < 0)
        goto out;
    size_t bytes = a->count * (size_t)a->item_size;
    if (bytes != st.size - header_at - header_len) {
        rc = promoe_err_set(err, "%s: its shape needs %zu bytes, the entry holds %llu", where,
                            bytes, (unsigned long long)(st.size - header_at - header_len));
        goto out;
    }
    size_t n = strlen(name);
    a->name = strndup(name, n > 4 && strcmp(name + n - 4, ".npy") == 0 ? n - 4 : n);
    a->data = malloc(bytes ? bytes : 1);
    if (!a->name || !a->data) {
        rc = promoe_err_set(err, "out of memory");
        goto out;
    }
    memcpy(a->data, buf + header_at + header_len, bytes);
out:
    free(buf);
    return rc;
}

int npz_read(const char *path, npz_file *f, promoe_err *err)
{
    memset(f, 0, sizeof *f);
    if (lazylib_open(&libzip, err) < 0)
        return promoe_err_prefix(err, "%s", path);
    int zerr = 0;
    zip_t *z = lz.open(path, ZIP_RDONLY, &zerr);
    if (!z) {
        zip_error_t e;
        lz.error_init_with_code(&e, zerr);
        promoe_err_set(err, "%s: not a readable .npz archive (%s)", path, lz.error_strerror(&e));
        lz.error_fini(&e);
        return -1;
    }
    zip_int64_t n = lz.get_num_entries(z, 0);
    f->arrays = calloc((size_t)(n > 0 ? n : 1), sizeof *f->arrays);
    int rc = f->arrays ? 0 : promoe_err_set(err, "out of memory");
    for (zip_int64_t i = 0; rc == 0 && i < n; i++) {
        rc = read_entry(z, (zip_uint64_t)i, path, &f->arrays[f->count], err);
        if (rc == 0)
            f->count++;
        else
            free(f->arrays[f->count].name), free(f->arrays[f->count].data);
    }
    lz.discard(z);
    if (rc < 0)
        npz_free(f);
    return rc;
}

/* Element p of a float array of `size` bytes (2, 4 or 8), as a float. */
static float element_float(const unsigned char *p, int size)
{
    if (size == 2) {
        uint16_t h;
        float v;
        memcpy(&h, p, 2);
        half_to_floats(&h, &v, 1);
        return v;
    }
    if (size == 4) {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    double v;
    memcpy(&v, p, 8);
    return (float)v;
}

/* Element p of an integer array ('i' signed, 'u' unsigned), little-endian. */
static int64_t element_int(const unsigned char *p, int size, char kind)
{
    uint64_t u = 0;
    for (int b = size - 1; b >= 0; b--)
        u = u << 8 | p[b];
    int shift = 64 - 8 * size;
    return kind == 'i' && shift ? (int64_t)(u << shift) >> shift : (int64_t)u;
}

void npz_array_floats(const npz_array *a, float *out)
{
    const unsigned char *d = a->data;
    for (size_t i = 0; i < a->count; i++) {
        const unsigned char *p = d + i * (size_t)a->item_size;
        out[i] = a->kind == 'f' ? element_float(p, a->item_size)
                                : (float)element_int(p, a->item_size, a->kind);
    }
}

int npz_array_ints(const npz_array *a, int64_t *out, promoe_err *err)
{
    const unsigned char *d = a->data;
    for (size_t i = 0; i < a->count; i++) {
        const unsigned char *p = d + i * (size_t)a->item_size;
        if (a->kind != 'f') {
            out[i] = element_int(p, a->item_size, a->kind);
            continue;
        }
        float v = element_float(p, a->item_size);
        if (v != floorf(v))
            return promoe_err_set(err, "%s: %g is not a whole number", a->name, v);
        out[i] = (int64_t)v;
    }
    return 0;
}
