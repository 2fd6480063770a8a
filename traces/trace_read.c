/* trace_read.c - the streaming trace reader and its validation.
 *
 * The reader keeps one block of tokens (a few MB) per loaded column and
 * hands out iterations from it; an iteration that runs past the block's end
 * moves to the front and the block is refilled (and grown only if a single
 * iteration is larger than the block). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/h5_attr.h"
#include "common/half.h"
#include "traces/trace_h5.h"

#define READ_BLOCK_BYTES (8 * 1024 * 1024)
#define CHUNK_CACHE_BYTES (4 * 1024 * 1024)
#define MAX_REQUESTS (1LL << 28)
#define READ_MAX_CHUNK_BYTES (64 << 20) /* our writer makes 256 KiB, h5py at most 1 MiB */

struct trace_reader {
    char *path;
    hid_t h5;
    trace_meta meta;
    unsigned load;
    hid_t dset[TRACE_NUM_COLUMNS]; /* open for required and loaded columns */
    char *buf[TRACE_NUM_COLUMNS];
    size_t cap;            /* rows the buffers hold */
    int64_t buf_start;     /* token index of buffer row 0 */
    size_t buf_rows;       /* valid rows */
    size_t cursor;         /* next row to hand out */
    int32_t last_iteration;
    uint16_t *stage;       /* float16 rows on their way to float */
    size_t stage_cap;
    trace_request *requests;
    int32_t *sorted_ids;   /* request ids, sorted, for lookups */
    float *router_weight;
    double file_bytes;     /* the file's size, which no chunk can exceed */
};

/* Sets "PATH: message" and returns -1. */
static int fail(trace_reader *r, promoe_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(trace_reader *r, promoe_err *err, const char *fmt, ...)
{
    char msg[PROMOE_ERR_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return promoe_err_set(err, "%s: %s", r->path, msg);
}

static int read_attributes(trace_reader *r, promoe_err *err)
{
    char format[64];
    long long v;
    if (h5_read_str_attr(r->h5, ATTR_NAME(format), format, sizeof format) < 0)
        return fail(r, err, "not a promoe trace (no 'format' attribute)");
    if (strcmp(format, TRACE_FORMAT_NAME) != 0)
        return fail(r, err, "not a promoe trace (format attribute is '%s')", format);
    if (h5_read_int_attr(r->h5, ATTR_NAME(version), &v) < 0)
        return fail(r, err, "trace has no integer 'version' attribute");
    if (v != TRACE_FORMAT_VERSION)
        return fail(r, err, "unsupported trace version %lld (this promoe reads version %d)", v,
                    TRACE_FORMAT_VERSION);
    const struct { const char *name; long long lo, hi; } dims[] = {
        {ATTR_NAME(num_layers), 1, TRACE_MAX_LAYERS},
        {ATTR_NAME(num_experts), 1, TRACE_MAX_EXPERTS},
        {ATTR_NAME(top_k), 1, TRACE_MAX_TOP_K},
        {ATTR_NAME(hidden_dim), 0, TRACE_MAX_HIDDEN},
    };
    int *fields[] = {&r->meta.num_layers, &r->meta.num_experts, &r->meta.top_k,
                     &r->meta.hidden_dim};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        if (h5_read_int_attr(r->h5, dims[i].name, &v) < 0)
            return fail(r, err, "missing integer attribute '%s'", dims[i].name);
        if (v < dims[i].lo || v > dims[i].hi)
            return fail(r, err, "%s = %lld is outside [%lld, %lld]", dims[i].name, v,
                        dims[i].lo, dims[i].hi);
        *fields[i] = (int)v;
    }
    if (r->meta.top_k > r->meta.num_experts)
        return fail(r, err, "top_k is larger than num_experts");
    if (h5_read_str_attr(r->h5, ATTR_NAME(model), r->meta.model, sizeof r->meta.model) < 0)
        r->meta.model[0] = '\0';
    if (h5_read_str_attr(r->h5, ATTR_NAME(source), r->meta.source, sizeof r->meta.source) < 0)
        r->meta.source[0] = '\0';
    r->meta.hidden_layer_stride = 1;
    if (H5Aexists(r->h5, ATTR_NAME(hidden_layer_stride)) > 0) {
        if (h5_read_int_attr(r->h5, ATTR_NAME(hidden_layer_stride), &v) < 0 || v < 1 ||
            v > r->meta.num_layers)
            return fail(r, err, "hidden_layer_stride is not a whole number in [1, num_layers]");
        r->meta.hidden_layer_stride = (int)v;
    }
    return 0;
}

static int dataset_exists(hid_t f, const char *path)
{
    /* H5Lexists on "a/b" fails if "a" is missing, so check each level. */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
        if (H5Lexists(f, buf, H5P_DEFAULT) <= 0)
            return 0;
    }
    return H5Lexists(f, path, H5P_DEFAULT) > 0;
}

/* Opens a dataset and checks its class, rank and dimensions.  expect[0] is
 * the number of rows (or -1 to take it from the file into *rows). */
static hid_t open_checked(trace_reader *r, const char *path, H5T_class_t class, int rank,
                          const hsize_t *expect, int64_t *rows, promoe_err *err)
{
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_chunk_cache(dapl, 521, CHUNK_CACHE_BYTES, 1.0);
    hid_t d = H5Dopen2(r->h5, path, dapl);
    H5Pclose(dapl);
    if (d < 0) {
        fail(r, err, "cannot open dataset %s (missing or corrupt)", path);
        return H5I_INVALID_HID;
    }
    hid_t type = H5Dget_type(d);
    hid_t space = H5Dget_space(d);
    int got_rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[3] = {0, 0, 0};
    int ok = H5Tget_class(type) == class && got_rank == rank;
    if (ok)
        H5Sget_simple_extent_dims(space, dims, NULL);
    H5Tclose(type);
    H5Sclose(space);
    if (!ok) {
        fail(r, err, "dataset %s has the wrong type or rank (expected %s, rank %d)", path,
             class == H5T_INTEGER ? "integer" : class == H5T_FLOAT ? "float" : "string", rank);
        goto bad;
    }
    if (*rows < 0)
        *rows = (int64_t)dims[0];
    for (int i = 0; i < rank; i++) {
        hsize_t want = i == 0 ? (hsize_t)*rows : expect[i - 1];
        if (dims[i] != want) {
            fail(r, err, "inconsistent shapes: %s has dimension %d = %llu, expected %llu", path, i,
                 (unsigned long long)dims[i], (unsigned long long)want);
            goto bad;
        }
    }
    return d;
bad:
    H5Dclose(d);
    return H5I_INVALID_HID;
}

/* Refuses chunk metadata that cannot be right before HDF5 acts on it: a
 * chunk of rows [from, from + n) of d whose stored size exceeds the whole
 * file (libhdf5 would allocate that much: fuzz_trace found a 4 GiB claim,
 * tests/fuzz/regressions/), or chunks larger than any writer makes. */
static int check_chunks(trace_reader *r, hid_t d, const char *path, hsize_t from, hsize_t n,
                        promoe_err *err)
{
    hid_t dcpl = H5Dget_create_plist(d), type = H5Dget_type(d);
    hsize_t chunk[3] = {0, 0, 0};
    int rank = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED ? H5Pget_chunk(dcpl, 3, chunk) : 0;
    double bytes = type >= 0 ? (double)H5Tget_size(type) : 0;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (type >= 0)
        H5Tclose(type);
    if (rank < 1 || chunk[0] == 0)
        return 0; /* contiguous: HDF5 checks its extent against the file */
    for (int i = 0; i < rank; i++)
        bytes *= (double)chunk[i];
    if (bytes > READ_MAX_CHUNK_BYTES)
        return fail(r, err, "%s is stored in chunks of %.0f bytes, more than the %d MiB promoe "
                    "reads (rewrite it with smaller chunks)", path, bytes,
                    READ_MAX_CHUNK_BYTES >> 20);
    for (hsize_t row = from / chunk[0] * chunk[0]; row < from + n; row += chunk[0]) {
        hsize_t offset[3] = {row, 0, 0}, stored = 0;
        if (H5Dget_chunk_storage_size(d, offset, &stored) >= 0 && (double)stored > r->file_bytes)
            return fail(r, err, "%s: its chunk at row %llu claims %llu bytes, more than the whole "
                        "file's %.0f (corrupt)", path, (unsigned long long)row,
                        (unsigned long long)stored, r->file_bytes);
    }
    return 0;
}

/* All n elements of dataset d into buf.  HDF5's type-conversion buffer is
 * sized to them, up to its default: 1 MiB zeroed at every read that
 * converts cost a small trace's reader more than its data did. */
static int read_whole(hid_t d, hid_t mtype, size_t n, void *buf)
{
    hid_t ftype = H5Dget_type(d), dxpl = H5Pcreate(H5P_DATASET_XFER);
    size_t fsize = ftype < 0 ? 0 : H5Tget_size(ftype), msize = H5Tget_size(mtype);
    size_t elem = fsize > msize ? fsize : msize, bytes = (n ? n : 1) * elem;
    if (bytes > (1u << 20))
        bytes = elem > (1u << 20) ? elem : (1u << 20);
    int rc = ftype < 0 || dxpl < 0 || H5Pset_buffer(dxpl, bytes, NULL, NULL) < 0 ||
                     H5Dread(d, mtype, H5S_ALL, H5S_ALL, dxpl, buf) < 0
                 ? -1
                 : 0;
    if (dxpl >= 0)
        H5Pclose(dxpl);
    if (ftype >= 0)
        H5Tclose(ftype);
    return rc;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int read_requests(trace_reader *r, promoe_err *err)
{
    hid_t d[TRACE_NUM_TABLES];
    int64_t n = -1;
    int rc = -1;
    for (int i = 0; i < TRACE_NUM_TABLES; i++) {
        const char *path = trace_tables[i].path;
        if (!dataset_exists(r->h5, path)) {
            for (int j = 0; j < i; j++)
                H5Dclose(d[j]);
            return fail(r, err, "missing dataset %s", path);
        }
        d[i] = open_checked(r, path, trace_type_class(trace_tables[i].type), 1, NULL, &n, err);
        if (d[i] < 0) {
            for (int j = 0; j < i; j++)
                H5Dclose(d[j]);
            return -1;
        }
    }
    if (n > MAX_REQUESTS) {
        fail(r, err, "request table too large");
        goto out;
    }
    for (int i = 0; i < TRACE_NUM_TABLES; i++)
        if (check_chunks(r, d[i], trace_tables[i].path, 0, (hsize_t)n, err) < 0)
            goto out;
    r->meta.num_requests = n;
    size_t un = (size_t)n;
    int32_t *cols[3];
    double *arrival = malloc((un + 1) * sizeof *arrival);
    char *names_buf = calloc(un + 1, TRACE_DATASET_NAME_MAX);
    r->requests = calloc(un + 1, sizeof *r->requests);
    r->sorted_ids = malloc((un + 1) * sizeof *r->sorted_ids);
    for (int i = 0; i < 3; i++)
        cols[i] = malloc((un + 1) * sizeof(int32_t));
    if (!arrival || !names_buf || !r->requests || !r->sorted_ids || !cols[0] || !cols[1] ||
        !cols[2]) {
        fail(r, err, "out of memory reading the request table");
    } else if (read_whole(d[TABLE_ID], H5T_NATIVE_INT32, un, cols[0]) < 0 ||
               read_whole(d[TABLE_PROMPT_LEN], H5T_NATIVE_INT32, un, cols[1]) < 0 ||
               read_whole(d[TABLE_OUTPUT_LEN], H5T_NATIVE_INT32, un, cols[2]) < 0 ||
               read_whole(d[TABLE_ARRIVAL_S], H5T_NATIVE_DOUBLE, un, arrival) < 0 ||
               read_whole(d[TABLE_DATASET], trace_type_file(TRACE_TYPE_str), un, names_buf) < 0) {
        fail(r, err, "cannot read the request table (corrupt data)");
    } else {
        rc = 0;
        for (size_t i = 0; i < un; i++) {
            trace_request *q = &r->requests[i];
            q->id = cols[0][i];
            q->prompt_len = cols[1][i];
            q->output_len = cols[2][i];
            q->arrival_s = arrival[i];
            memcpy(q->dataset, names_buf + i * TRACE_DATASET_NAME_MAX, TRACE_DATASET_NAME_MAX);
            q->dataset[TRACE_DATASET_NAME_MAX - 1] = '\0';
            r->sorted_ids[i] = q->id;
        }
        qsort(r->sorted_ids, un, sizeof *r->sorted_ids, cmp_i32);
        for (size_t i = 1; i < un && rc == 0; i++)
            if (r->sorted_ids[i] == r->sorted_ids[i - 1])
                rc = fail(r, err, "request id %d appears twice in requests/id", r->sorted_ids[i]);
    }
    for (int i = 0; i < 3; i++)
        free(cols[i]);
    free(arrival);
    free(names_buf);
out:
    for (int i = 0; i < TRACE_NUM_TABLES; i++)
        H5Dclose(d[i]);
    return rc;
}

static int open_columns(trace_reader *r, promoe_err *err)
{
    int64_t n = -1;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++) {
        const trace_column *col = &trace_columns[c];
        if (!dataset_exists(r->h5, col->path)) {
            if (!col->content)
                return fail(r, err, "missing dataset %s", col->path);
            continue;
        }
        if (col->content)
            r->meta.content |= col->content;
        if (c == COL_HIDDEN && r->meta.hidden_dim < 1)
            return fail(r, err, "hidden/input present but hidden_dim is 0");
        hsize_t inner[2];
        trace_column_inner_dims(c, &r->meta, inner);
        hid_t d = open_checked(r, col->path, trace_type_class(col->type), col->rank, inner, &n, err);
        if (d < 0)
            return -1;
        if (col->content && !(r->load & col->content))
            H5Dclose(d); /* checked, not needed */
        else
            r->dset[c] = d;
    }
    r->meta.num_tokens = n;
    if (dataset_exists(r->h5, TENSOR_PATH(ROUTER_WEIGHT))) {
        if (r->meta.hidden_dim < 1)
            return fail(r, err, "model/router_weight present but hidden_dim is 0");
        hsize_t inner[2] = {(hsize_t)r->meta.num_experts, (hsize_t)r->meta.hidden_dim};
        int64_t layers = r->meta.num_layers;
        hid_t d = open_checked(r, TENSOR_PATH(ROUTER_WEIGHT), H5T_FLOAT, 3, inner, &layers, err);
        if (d < 0)
            return -1;
        H5Dclose(d);
        r->meta.content |= TRACE_ROUTER_WEIGHT;
    }
    unsigned missing = r->load & ~r->meta.content;
    if (missing) {
        const char *what = (missing & TRACE_HIDDEN) ? "hidden/input (hidden states)"
                           : (missing & TRACE_LOGITS) ? "routing/logits (router logits)"
                           : (missing & TRACE_WEIGHTS) ? "routing/weights (gate weights)"
                                                       : "model/router_weight (router weights)";
        return fail(r, err, "trace has no %s, which this use needs", what);
    }
    return 0;
}

static size_t row_bytes(const trace_reader *r, int c)
{
    return trace_column_width(c, &r->meta) * trace_column_elem_size(c);
}

static int alloc_buffers(trace_reader *r, size_t cap, promoe_err *err)
{
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++) {
        if (r->dset[c] < 0)
            continue;
        char *b = realloc(r->buf[c], cap * row_bytes(r, c));
        if (!b)
            return fail(r, err, "out of memory for the read buffer");
        r->buf[c] = b;
    }
    r->cap = cap;
    return 0;
}

trace_reader *trace_reader_open(const char *path, unsigned load, promoe_err *err)
{
    h5_quiet();
    trace_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        promoe_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    r->h5 = H5I_INVALID_HID;
    r->load = load;
    r->last_iteration = INT32_MIN;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++)
        r->dset[c] = H5I_INVALID_HID;
    struct stat st;
    if (stat(path, &st) != 0) {
        promoe_err_set(err, "%s: no such file", path);
        goto fail;
    }
    htri_t is_h5 = H5Fis_hdf5(path);
    if (is_h5 <= 0) {
        promoe_err_set(err, "%s: not an HDF5 file", path);
        goto fail;
    }
    r->file_bytes = (double)st.st_size;
    r->h5 = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->h5 < 0) {
        promoe_err_set(err, "%s: cannot open HDF5 file (truncated or corrupt)", path);
        goto fail;
    }
    if (read_attributes(r, err) < 0 || open_columns(r, err) < 0 || read_requests(r, err) < 0)
        goto fail;
    size_t per_token = 0;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++)
        if (r->dset[c] >= 0)
            per_token += row_bytes(r, c);
    /* a block of rows, or the whole trace where it is smaller */
    size_t cap = READ_BLOCK_BYTES / per_token;
    if (r->meta.num_tokens >= 0 && (size_t)r->meta.num_tokens < cap)
        cap = (size_t)r->meta.num_tokens;
    if (alloc_buffers(r, cap < 1 ? 1 : cap, err) < 0)
        goto fail;
    return r;
fail:
    trace_reader_close(r);
    return NULL;
}

const trace_meta *trace_reader_meta(const trace_reader *r) { return &r->meta; }

const trace_request *trace_reader_requests(const trace_reader *r) { return r->requests; }

size_t trace_reader_buffer_bytes(const trace_reader *r)
{
    size_t n = 0;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++)
        if (r->dset[c] >= 0)
            n += r->cap * row_bytes(r, c);
    return n;
}

void trace_reader_rewind(trace_reader *r)
{
    r->buf_start = 0;
    r->buf_rows = r->cursor = 0;
    r->last_iteration = INT32_MIN;
}

/* Checks rows [from, to) of the buffer, which were just read. */
static int validate_rows(trace_reader *r, size_t from, size_t to, promoe_err *err)
{
    const int32_t *req = (const int32_t *)r->buf[COL_REQUEST];
    const int32_t *pos = (const int32_t *)r->buf[COL_POSITION];
    const uint8_t *phase = (const uint8_t *)r->buf[COL_PHASE];
    const int32_t *iter = (const int32_t *)r->buf[COL_ITERATION];
    const int16_t *ex = (const int16_t *)r->buf[COL_EXPERTS];
    size_t lk = (size_t)r->meta.num_layers * r->meta.top_k;
    int16_t e_max = (int16_t)r->meta.num_experts;
    for (size_t t = from; t < to; t++) {
        long long tok = (long long)(r->buf_start + (int64_t)t);
        if (phase[t] > TRACE_DECODE)
            return fail(r, err, "token %lld: phase %u is neither 0 (prefill) nor 1 (decode)",
                        tok, phase[t]);
        if (iter[t] < r->last_iteration)
            return fail(r, err, "token %lld: iteration %d follows iteration %d "
                        "(tokens must be stored in iteration order)", tok, iter[t],
                        r->last_iteration);
        r->last_iteration = iter[t];
        if (pos[t] < 0)
            return fail(r, err, "token %lld: negative position %d", tok, pos[t]);
        if (!bsearch(&req[t], r->sorted_ids, (size_t)r->meta.num_requests, sizeof(int32_t),
                     cmp_i32))
            return fail(r, err, "token %lld: request %d is not in requests/id", tok, req[t]);
        const int16_t *row = ex + t * lk;
        for (size_t j = 0; j < lk; j++)
            if (row[j] < -1 || row[j] >= e_max)
                return fail(r, err, "token %lld, layer %zu: expert id %d out of range [0, %d)",
                            tok, j / (size_t)r->meta.top_k, row[j], e_max);
    }
    return 0;
}

/* Reads file tokens into buffer rows [buf_rows, cap) and validates them. */
static int refill(trace_reader *r, promoe_err *err)
{
    int64_t file_at = r->buf_start + (int64_t)r->buf_rows;
    int64_t left = r->meta.num_tokens - file_at;
    size_t n = r->cap - r->buf_rows;
    if ((int64_t)n > left)
        n = (size_t)left;
    if (n == 0)
        return 0;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++) {
        if (r->dset[c] < 0)
            continue;
        hsize_t inner[2];
        trace_column_inner_dims(c, &r->meta, inner);
        int rank = trace_columns[c].rank;
        hsize_t start[3] = {(hsize_t)file_at, 0, 0}, count[3] = {n, inner[0], inner[1]};
        if (check_chunks(r, r->dset[c], trace_columns[c].path, (hsize_t)file_at, n, err) < 0)
            return -1;
        hid_t fs = H5Dget_space(r->dset[c]);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        hid_t ms = H5Screate_simple(rank, count, NULL);
        void *dst = r->buf[c] + r->buf_rows * row_bytes(r, c);
        size_t values = n * (size_t)inner[0] * (size_t)inner[1];
        int half = trace_column_is_half(c);
        if (half && values > r->stage_cap) {
            uint16_t *s = realloc(r->stage, values * sizeof *s);
            if (!s) {
                H5Sclose(ms);
                H5Sclose(fs);
                return fail(r, err, "out of memory for the read buffer");
            }
            r->stage = s;
            r->stage_cap = values;
        }
        herr_t rc = H5Dread(r->dset[c], half ? trace_h5_float16() : trace_column_mem_type(c), ms,
                            fs, H5P_DEFAULT, half ? (void *)r->stage : dst);
        H5Sclose(ms);
        H5Sclose(fs);
        if (half && rc >= 0)
            half_to_floats(r->stage, dst, values);
        if (rc < 0)
            return fail(r, err, "cannot read %s at tokens [%lld, %lld) (truncated or corrupt data)",
                        trace_columns[c].path, (long long)file_at, (long long)(file_at + (int64_t)n));
    }
    size_t from = r->buf_rows;
    r->buf_rows += n;
    return validate_rows(r, from, r->buf_rows, err);
}

/* Moves the unread rows to the front of the buffers. */
static void compact(trace_reader *r)
{
    size_t keep = r->buf_rows - r->cursor;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++)
        if (r->dset[c] >= 0)
            memmove(r->buf[c], r->buf[c] + r->cursor * row_bytes(r, c), keep * row_bytes(r, c));
    r->buf_start += (int64_t)r->cursor;
    r->buf_rows = keep;
    r->cursor = 0;
}

int trace_read_iteration(trace_reader *r, trace_iteration *it, promoe_err *err)
{
    if (r->buf_start + (int64_t)r->cursor >= r->meta.num_tokens)
        return 0;
    if (r->cursor == r->buf_rows) {
        compact(r);
        if (refill(r, err) < 0)
            return -1;
    }
    const int32_t *iter = (const int32_t *)r->buf[COL_ITERATION];
    int32_t id = iter[r->cursor];
    size_t end = r->cursor + 1;
    for (;;) {
        while (end < r->buf_rows && ((const int32_t *)r->buf[COL_ITERATION])[end] == id)
            end++;
        int more_in_file = r->buf_start + (int64_t)r->buf_rows < r->meta.num_tokens;
        if (end < r->buf_rows || !more_in_file)
            break;
        /* The iteration may continue past the block: make room and read on. */
        size_t scanned = end - r->cursor;
        compact(r);
        if (r->buf_rows == r->cap && alloc_buffers(r, r->cap * 2, err) < 0)
            return -1;
        if (refill(r, err) < 0)
            return -1;
        end = scanned;
    }
    size_t at = r->cursor, n = end - r->cursor;
    it->first_token = r->buf_start + (int64_t)at;
    it->id = id;
    it->num_tokens = n;
    it->request = (const int32_t *)r->buf[COL_REQUEST] + at;
    it->position = (const int32_t *)r->buf[COL_POSITION] + at;
    it->phase = (const uint8_t *)r->buf[COL_PHASE] + at;
    it->experts = (const int16_t *)r->buf[COL_EXPERTS] + at * trace_column_width(COL_EXPERTS, &r->meta);
    it->weights = r->dset[COL_WEIGHTS] >= 0
        ? (const float *)r->buf[COL_WEIGHTS] + at * trace_column_width(COL_WEIGHTS, &r->meta) : NULL;
    it->logits = r->dset[COL_LOGITS] >= 0
        ? (const float *)r->buf[COL_LOGITS] + at * trace_column_width(COL_LOGITS, &r->meta) : NULL;
    it->hidden = r->dset[COL_HIDDEN] >= 0
        ? (const float *)r->buf[COL_HIDDEN] + at * trace_column_width(COL_HIDDEN, &r->meta) : NULL;
    r->cursor = end;
    return 1;
}

const float *trace_reader_router_weight(trace_reader *r, promoe_err *err)
{
    if (r->router_weight || !(r->meta.content & TRACE_ROUTER_WEIGHT))
        return r->router_weight;
    size_t n = (size_t)r->meta.num_layers * r->meta.num_experts * r->meta.hidden_dim;
    r->router_weight = malloc(n * sizeof(float));
    hid_t d = H5Dopen2(r->h5, TENSOR_PATH(ROUTER_WEIGHT), H5P_DEFAULT);
    int checked = d >= 0 &&
                  check_chunks(r, d, TENSOR_PATH(ROUTER_WEIGHT), 0, (hsize_t)r->meta.num_layers, err) == 0;
    if (!r->router_weight || !checked || read_whole(d, H5T_NATIVE_FLOAT, n, r->router_weight) < 0) {
        free(r->router_weight);
        r->router_weight = NULL;
        if (d < 0 || checked)
            fail(r, err, "cannot read model/router_weight (corrupt data)");
    }
    if (d >= 0)
        H5Dclose(d);
    return r->router_weight;
}

void trace_reader_close(trace_reader *r)
{
    if (!r)
        return;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++) {
        if (r->dset[c] >= 0)
            H5Dclose(r->dset[c]);
        free(r->buf[c]);
    }
    if (r->h5 >= 0)
        H5Fclose(r->h5);
    free(r->stage);
    free(r->requests);
    free(r->sorted_ids);
    free(r->router_weight);
    free(r->path);
    free(r);
}

int trace_read_meta(const char *path, trace_meta *meta, promoe_err *err)
{
    trace_reader *r = trace_reader_open(path, 0, err);
    if (!r)
        return -1;
    *meta = r->meta;
    trace_reader_close(r);
    return 0;
}
