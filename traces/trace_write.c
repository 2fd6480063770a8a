/* trace_write.c - the one trace writer every producer uses.
 *
 * Tokens are buffered in blocks and appended to chunked, compressed,
 * extendible datasets, made at the first block written: a trace that fits
 * in one block gets chunks no longer than itself (trace_format.def).  The
 * request table and attributes are written at commit, when the file is
 * renamed into place. */
#include <stdlib.h>
#include <string.h>

#include "common/atomic_file.h"
#include "common/grow.h"
#include "common/h5_attr.h"
#include "common/half.h"
#include "traces/trace_h5.h"

struct trace_writer {
    atomic_file file;
    hid_t h5;
    trace_meta meta;
    hid_t dset[TRACE_NUM_COLUMNS]; /* -1 until the first block is written */
    char *buf[TRACE_NUM_COLUMNS];   /* NULL for columns not written */
    int created;                    /* the token datasets exist */
    size_t block_rows;              /* buffer capacity in tokens */
    size_t buffered;                /* tokens in the buffers */
    int64_t written;                /* tokens already in the file */
    int32_t last_iteration;
    trace_request *requests;
    size_t num_requests, cap_requests;
    float *router_weight;           /* [L][E][D] or NULL */
};

static hsize_t chunk_rows(size_t row_bytes, size_t cap)
{
    /* chunks of TRACE_CHUNK_TARGET_BYTES compress well and fit the reader's
     * per-dataset chunk cache */
    size_t rows = TRACE_CHUNK_TARGET_BYTES / (row_bytes ? row_bytes : 1);
    if (rows < 1)
        rows = 1;
    if (rows > cap)
        rows = cap;
    return rows;
}

/* A chunked, deflate-compressed dataset with an unlimited first dimension.
 * Times are not tracked, so the same data gives the same bytes. */
int trace_compression_parse(const char *name)
{
    return strcmp(name, "gzip") == 0 ? TRACE_GZIP : strcmp(name, "none") == 0 ? TRACE_UNCOMPRESSED : -1;
}

/* Dataset creation properties: chunked, compressed as asked, and without
 * time stamps, so the same data gives the same bytes. */
static hid_t dataset_props(int rank, const hsize_t *chunk, int compression)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    if (compression == TRACE_GZIP) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, TRACE_DEFLATE_LEVEL);
    }
    H5Pset_obj_track_times(dcpl, 0);
    return dcpl;
}

/* Creates dataset `path` ("group/name"), making its group first, untimed
 * (HDF5 would stamp a group it makes on its own with the time). */
static hid_t create_dataset(hid_t loc, const char *path, hid_t ftype, hid_t space, hid_t dcpl)
{
    const char *slash = strrchr(path, '/');
    if (slash) {
        char group[64];
        snprintf(group, sizeof group, "%.*s", (int)(slash - path), path);
        if (H5Lexists(loc, group, H5P_DEFAULT) <= 0) {
            hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
            H5Pset_obj_track_times(gcpl, 0);
            hid_t g = H5Gcreate2(loc, group, H5P_DEFAULT, gcpl, H5P_DEFAULT);
            H5Pclose(gcpl);
            if (g < 0)
                return H5I_INVALID_HID;
            H5Gclose(g);
        }
    }
    return H5Dcreate2(loc, path, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
}

static hid_t create_extendible(hid_t loc, const char *path, hid_t ftype, int rank,
                               const hsize_t inner[2], hsize_t rows_per_chunk, int compression)
{
    hsize_t dims[3] = {0, inner[0], inner[1]};
    hsize_t maxdims[3] = {H5S_UNLIMITED, inner[0], inner[1]};
    hsize_t chunk[3] = {rows_per_chunk, inner[0], inner[1]};
    hid_t space = H5Screate_simple(rank, dims, maxdims);
    hid_t dcpl = dataset_props(rank, chunk, compression);
    hid_t d = create_dataset(loc, path, ftype, space, dcpl);
    H5Pclose(dcpl);
    H5Sclose(space);
    return d;
}

/* Appends `rows` rows from buf to a dataset whose first `at` rows exist. */
static int append_rows(hid_t d, hid_t mtype, int rank, hsize_t at, hsize_t rows,
                       const void *buf)
{
    hid_t fs = H5Dget_space(d);
    hsize_t dims[3];
    H5Sget_simple_extent_dims(fs, dims, NULL);
    H5Sclose(fs);
    dims[0] = at + rows;
    if (H5Dset_extent(d, dims) < 0)
        return -1;
    fs = H5Dget_space(d);
    hsize_t start[3] = {at, 0, 0}, count[3] = {rows, dims[1], dims[2]};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    herr_t rc = H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

static int column_written(const trace_writer *w, int c)
{
    return w->buf[c] != NULL;
}

/* Bytes of one token's row of column c on disk (chunks and blocks are
 * sized by them). */
static size_t row_bytes_on_disk(const trace_meta *m, int c)
{
    return trace_column_width(c, m) * H5Tget_size(trace_column_file_type(c));
}

trace_writer *trace_writer_create(const char *path, const trace_meta *meta,
                                  promoe_err *err)
{
    h5_quiet();
    if (meta->num_layers < 1 || meta->num_layers > TRACE_MAX_LAYERS ||
        meta->num_experts < 1 || meta->num_experts > TRACE_MAX_EXPERTS ||
        meta->top_k < 1 || meta->top_k > meta->num_experts || meta->top_k > TRACE_MAX_TOP_K ||
        meta->hidden_dim < 0 || meta->hidden_dim > TRACE_MAX_HIDDEN) {
        promoe_err_set(err, "%s: invalid trace shape (layers %d, experts %d, top-k %d, hidden %d)",
                       path, meta->num_layers, meta->num_experts, meta->top_k, meta->hidden_dim);
        return NULL;
    }
    if (meta->compression != TRACE_GZIP && meta->compression != TRACE_UNCOMPRESSED) {
        promoe_err_set(err, "%s: unknown compression %d", path, meta->compression);
        return NULL;
    }
    if ((meta->content & (TRACE_HIDDEN | TRACE_ROUTER_WEIGHT)) && meta->hidden_dim < 1) {
        promoe_err_set(err, "%s: hidden states or router weights need a hidden dimension", path);
        return NULL;
    }
    trace_writer *w = calloc(1, sizeof *w);
    if (!w) {
        promoe_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    w->meta = *meta;
    w->meta.num_tokens = w->meta.num_requests = 0;
    w->last_iteration = INT32_MIN;
    w->h5 = H5I_INVALID_HID;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++)
        w->dset[c] = H5I_INVALID_HID;
    if (atomic_file_begin(&w->file, path, 0, err) < 0) {
        free(w);
        return NULL;
    }
    w->h5 = h5_create_file(w->file.tmp_path);
    if (w->h5 < 0) {
        promoe_err_set(err, "%s: cannot create HDF5 file", path);
        trace_writer_abort(w);
        return NULL;
    }
    size_t row_bytes = 0;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++) {
        const trace_column *col = &trace_columns[c];
        if (col->content && !(meta->content & col->content))
            continue;
        row_bytes += row_bytes_on_disk(&w->meta, c);
    }
    w->block_rows = TRACE_WRITE_BLOCK_BYTES / row_bytes;
    if (w->block_rows < 1)
        w->block_rows = 1;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++) {
        const trace_column *col = &trace_columns[c];
        if (col->content && !(meta->content & col->content))
            continue;
        size_t elem = trace_column_is_half(c) ? sizeof(uint16_t) : trace_column_elem_size(c);
        w->buf[c] = malloc(w->block_rows * trace_column_width(c, &w->meta) * elem);
        if (!w->buf[c]) {
            promoe_err_set(err, "%s: out of memory for %s", path, col->path);
            trace_writer_abort(w);
            return NULL;
        }
    }
    return w;
}

/* The token datasets, chunked by at most `rows` rows (0: no bound). */
static int create_columns(trace_writer *w, hsize_t rows, promoe_err *err)
{
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++) {
        if (!column_written(w, c))
            continue;
        hsize_t inner[2];
        trace_column_inner_dims(c, &w->meta, inner);
        hsize_t chunk = chunk_rows(row_bytes_on_disk(&w->meta, c), TRACE_TOKEN_CHUNK_ROWS_MAX);
        if (rows && chunk > rows)
            chunk = rows;
        w->dset[c] = create_extendible(w->h5, trace_columns[c].path, trace_column_file_type(c),
                                       trace_columns[c].rank, inner, chunk, w->meta.compression);
        if (w->dset[c] < 0)
            return promoe_err_set(err, "%s: cannot create dataset %s", w->file.final_path,
                                  trace_columns[c].path);
    }
    return 0;
}

/* Writes the buffered tokens; `last`: no more will come. */
static int flush_block(trace_writer *w, int last, promoe_err *err)
{
    if (!w->created) {
        /* a trace that ends within its first block: chunks no longer than it */
        if (create_columns(w, last ? (w->buffered ? w->buffered : 1) : 0, err) < 0)
            return -1;
        w->created = 1;
    }
    if (w->buffered == 0)
        return 0;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++) {
        if (!column_written(w, c))
            continue;
        hid_t mtype = trace_column_is_half(c) ? trace_h5_float16() : trace_column_mem_type(c);
        if (append_rows(w->dset[c], mtype, trace_columns[c].rank,
                        (hsize_t)w->written, w->buffered, w->buf[c]) < 0)
            return promoe_err_set(err, "%s: cannot write %s", w->file.final_path,
                                  trace_columns[c].path);
    }
    w->written += (int64_t)w->buffered;
    w->buffered = 0;
    return 0;
}

static const void *iteration_column(const trace_iteration *it, int c)
{
    switch (c) {
    case COL_REQUEST: return it->request;
    case COL_POSITION: return it->position;
    case COL_PHASE: return it->phase;
    case COL_ITERATION: return NULL; /* filled from it->id */
    case COL_EXPERTS: return it->experts;
    case COL_WEIGHTS: return it->weights;
    case COL_LOGITS: return it->logits;
    default: return it->hidden;
    }
}

static int check_iteration(const trace_writer *w, const trace_iteration *it, promoe_err *err)
{
    const char *path = w->file.final_path;
    if (it->id < w->last_iteration)
        return promoe_err_set(err, "%s: iteration %d appended after iteration %d "
                              "(iterations must not decrease)", path, it->id, w->last_iteration);
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++)
        if (c != COL_ITERATION && column_written(w, c) && !iteration_column(it, c))
            return promoe_err_set(err, "%s: iteration %d lacks %s", path, it->id,
                                  trace_columns[c].path);
    size_t lk = (size_t)w->meta.num_layers * (size_t)w->meta.top_k;
    for (size_t t = 0; t < it->num_tokens; t++) {
        if (it->phase[t] > TRACE_DECODE)
            return promoe_err_set(err, "%s: token phase %u is neither prefill nor decode",
                                  path, it->phase[t]);
        for (size_t j = 0; j < lk; j++) {
            int16_t e = it->experts[t * lk + j];
            if (e < -1 || e >= w->meta.num_experts)
                return promoe_err_set(err, "%s: expert id %d out of range [0, %d)",
                                      path, e, w->meta.num_experts);
        }
    }
    return 0;
}

int trace_writer_append(trace_writer *w, const trace_iteration *it, promoe_err *err)
{
    if (check_iteration(w, it, err) < 0)
        return -1;
    w->last_iteration = it->id;
    size_t done = 0;
    while (done < it->num_tokens) {
        size_t n = w->block_rows - w->buffered;
        if (n > it->num_tokens - done)
            n = it->num_tokens - done;
        for (int c = 0; c < TRACE_NUM_COLUMNS; c++) {
            if (!column_written(w, c))
                continue;
            size_t width = trace_column_width(c, &w->meta);
            size_t row = width * trace_column_elem_size(c);
            if (trace_column_is_half(c)) {
                uint16_t *dst = (uint16_t *)w->buf[c] + w->buffered * width;
                const float *src = (const float *)iteration_column(it, c) + done * width;
                half_from_floats(src, dst, n * width);
                continue;
            }
            char *dst = w->buf[c] + w->buffered * row;
            if (c == COL_ITERATION) {
                for (size_t t = 0; t < n; t++)
                    memcpy(dst + t * row, &it->id, sizeof it->id);
            } else {
                memcpy(dst, (const char *)iteration_column(it, c) + done * row, n * row);
            }
        }
        w->buffered += n;
        done += n;
        if (w->buffered == w->block_rows && flush_block(w, 0, err) < 0)
            return -1;
    }
    return 0;
}

int trace_writer_add_request(trace_writer *w, const trace_request *req, promoe_err *err)
{
    trace_request *r = grow_array(w->requests, &w->cap_requests, w->num_requests + 1, sizeof *r, 64);
    if (!r)
        return promoe_err_set(err, "%s: out of memory", w->file.final_path);
    w->requests = r;
    w->requests[w->num_requests++] = *req;
    return 0;
}

int trace_writer_set_router_weight(trace_writer *w, const float *weight, promoe_err *err)
{
    if (!(w->meta.content & TRACE_ROUTER_WEIGHT))
        return promoe_err_set(err, "%s: writer was not created with router weights",
                              w->file.final_path);
    size_t n = (size_t)w->meta.num_layers * w->meta.num_experts * w->meta.hidden_dim;
    free(w->router_weight);
    w->router_weight = malloc(n * sizeof *weight);
    if (!w->router_weight)
        return promoe_err_set(err, "%s: out of memory", w->file.final_path);
    memcpy(w->router_weight, weight, n * sizeof *weight);
    return 0;
}

/* Request table dataset `t`, small, chunked and compressed, in one go. */
static int write_table(hid_t loc, int t, hid_t mtype, size_t n, const void *data)
{
    hsize_t inner[2] = {1, 1};
    hid_t ftype = trace_type_file(trace_tables[t].type);
    hsize_t rows = chunk_rows(H5Tget_size(ftype), TRACE_TABLE_CHUNK_ROWS_MAX);
    if (rows > n) /* written once: chunks no longer than the table */
        rows = n ? n : 1;
    hid_t d = create_extendible(loc, trace_tables[t].path, ftype, 1, inner, rows, TRACE_GZIP);
    if (d < 0)
        return -1;
    int rc = n ? append_rows(d, mtype, 1, 0, n, data) : 0;
    H5Dclose(d);
    return rc;
}

static int write_requests(trace_writer *w)
{
    size_t n = w->num_requests;
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    int32_t *prompt = malloc((n + 1) * sizeof *prompt);
    int32_t *output = malloc((n + 1) * sizeof *output);
    double *arrival = malloc((n + 1) * sizeof *arrival);
    char *names = calloc(n + 1, TRACE_DATASET_NAME_MAX);
    int rc = -1;
    if (!ids || !prompt || !output || !arrival || !names)
        goto out;
    for (size_t i = 0; i < n; i++) {
        ids[i] = w->requests[i].id;
        prompt[i] = w->requests[i].prompt_len;
        output[i] = w->requests[i].output_len;
        arrival[i] = w->requests[i].arrival_s;
        memcpy(names + i * TRACE_DATASET_NAME_MAX, w->requests[i].dataset, TRACE_DATASET_NAME_MAX);
        names[i * TRACE_DATASET_NAME_MAX + TRACE_DATASET_NAME_MAX - 1] = '\0';
    }
    rc = write_table(w->h5, TABLE_ID, H5T_NATIVE_INT32, n, ids) |
         write_table(w->h5, TABLE_PROMPT_LEN, H5T_NATIVE_INT32, n, prompt) |
         write_table(w->h5, TABLE_OUTPUT_LEN, H5T_NATIVE_INT32, n, output) |
         write_table(w->h5, TABLE_ARRIVAL_S, H5T_NATIVE_DOUBLE, n, arrival) |
         write_table(w->h5, TABLE_DATASET, trace_type_file(TRACE_TYPE_str), n, names);
out:
    free(ids);
    free(prompt);
    free(output);
    free(arrival);
    free(names);
    return rc ? -1 : 0;
}

static int write_router_weight(trace_writer *w)
{
    hsize_t dims[3] = {(hsize_t)w->meta.num_layers, (hsize_t)w->meta.num_experts,
                       (hsize_t)w->meta.hidden_dim};
    hsize_t chunk[3] = {1, dims[1], dims[2]};
    hid_t space = H5Screate_simple(3, dims, NULL);
    hid_t dcpl = dataset_props(3, chunk, w->meta.compression);
    hid_t d = create_dataset(w->h5, TENSOR_PATH(ROUTER_WEIGHT),
                            trace_type_file(trace_tensors[TENSOR_ROUTER_WEIGHT].type), space, dcpl);
    size_t n = (size_t)(dims[0] * dims[1] * dims[2]);
    uint16_t *half = malloc(n * sizeof *half);
    if (half)
        half_from_floats(w->router_weight, half, n);
    int rc = (d < 0 || !half || H5Dwrite(d, trace_h5_float16(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                         half) < 0) ? -1 : 0;
    free(half);
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    return rc;
}

static int write_attributes(trace_writer *w)
{
    hid_t f = w->h5;
    const trace_meta *m = &w->meta;
    return (h5_write_str_attr(f, ATTR_NAME(format), TRACE_FORMAT_NAME) |
            h5_write_int_attr(f, ATTR_NAME(version), TRACE_FORMAT_VERSION) |
            h5_write_str_attr(f, ATTR_NAME(model), m->model) |
            h5_write_int_attr(f, ATTR_NAME(num_layers), m->num_layers) |
            h5_write_int_attr(f, ATTR_NAME(num_experts), m->num_experts) |
            h5_write_int_attr(f, ATTR_NAME(top_k), m->top_k) |
            h5_write_int_attr(f, ATTR_NAME(hidden_dim),
                              (m->content & (TRACE_HIDDEN | TRACE_ROUTER_WEIGHT)) ? m->hidden_dim : 0) |
            h5_write_str_attr(f, ATTR_NAME(source), m->source) |
            (m->hidden_layer_stride > 1 && (m->content & TRACE_HIDDEN)
                 ? h5_write_int_attr(f, ATTR_NAME(hidden_layer_stride), m->hidden_layer_stride)
                 : 0)) ? -1 : 0;
}

int trace_writer_commit(trace_writer *w, promoe_err *err)
{
    const char *path = w->file.final_path;
    if (flush_block(w, 1, err) < 0)
        goto fail;
    if ((w->meta.content & TRACE_ROUTER_WEIGHT) && !w->router_weight) {
        promoe_err_set(err, "%s: router weights were promised but not given", path);
        goto fail;
    }
    if (write_requests(w) < 0 || write_attributes(w) < 0 ||
        (w->router_weight && write_router_weight(w) < 0)) {
        promoe_err_set(err, "%s: cannot write trace metadata", path);
        goto fail;
    }
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++)
        if (w->dset[c] >= 0) {
            H5Dclose(w->dset[c]);
            w->dset[c] = H5I_INVALID_HID;
        }
    herr_t closed = H5Fclose(w->h5);
    w->h5 = H5I_INVALID_HID;
    if (closed < 0) {
        promoe_err_set(err, "%s: cannot close HDF5 file", path);
        goto fail;
    }
    if (atomic_file_commit(&w->file, err) < 0)
        goto fail;
    trace_writer_abort(w);
    return 0;
fail:
    trace_writer_abort(w);
    return -1;
}

void trace_writer_abort(trace_writer *w)
{
    if (!w)
        return;
    for (int c = 0; c < TRACE_NUM_COLUMNS; c++) {
        if (w->dset[c] >= 0)
            H5Dclose(w->dset[c]);
        free(w->buf[c]);
    }
    if (w->h5 >= 0)
        H5Fclose(w->h5);
    atomic_file_abort(&w->file);
    free(w->requests);
    free(w->router_weight);
    free(w);
}
