/* Trace format v1: writer/reader round trips, validation errors, and the
 * streaming reader's bounded memory. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "models/model.h"
#include "tests/testutil.h"
#include "traces/trace.h"
#include "traces/trace_gen.h"

enum { L = 3, E = 6, K = 2, D = 4 };

/* Value of every field is a function of the token index, so a reader can
 * check each token it gets.  Hidden values are multiples of 1/8, exact in
 * float16. */
static int16_t expert_of(size_t t, int l, int k) { return (int16_t)((t + (size_t)l + 2 * (size_t)k) % E); }
static float weight_of(size_t t, int l, int k) { return (float)(t % 97) / 97.0f + (float)l + 0.25f * (float)k; }
static float logit_of(size_t t, int l, int e) { return (float)((t + (size_t)e) % 13) - 6.5f + (float)l; }
static float hidden_of(size_t t, int l, int d) { return (float)((int)((t * 7 + (size_t)l * 3 + (size_t)d) % 64) - 32) / 8.0f; }

static int write_compression = TRACE_GZIP;

/* Writes `iters` iterations; iteration i has sizes[i % nsizes] tokens,
 * requests cycle over `requests`. */
static size_t write_trace(const char *path, unsigned content, int iters, const int *sizes,
                          int nsizes, int requests)
{
    trace_meta m = {.num_layers = L, .num_experts = E, .top_k = K, .hidden_dim = D,
                    .content = content, .compression = write_compression};
    snprintf(m.model, sizeof m.model, "test-model");
    snprintf(m.source, sizeof m.source, "test_trace_format");
    promoe_err err = {{0}};
    trace_writer *w = trace_writer_create(path, &m, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    for (int r = 0; r < requests; r++) {
        trace_request q = {.id = 100 + r, .prompt_len = r, .output_len = 2 * r, .arrival_s = 0.5 * r};
        snprintf(q.dataset, sizeof q.dataset, "set%d", r);
        ck_assert_int_eq(trace_writer_add_request(w, &q, &err), 0);
    }
    float rw[L * E * D];
    for (int i = 0; i < L * E * D; i++)
        rw[i] = (float)(i % 16) / 4.0f;
    if (content & TRACE_ROUTER_WEIGHT)
        ck_assert_int_eq(trace_writer_set_router_weight(w, rw, &err), 0);
    size_t t0 = 0;
    for (int i = 0; i < iters; i++) {
        size_t n = (size_t)sizes[i % nsizes];
        int32_t *req = malloc(n * 4), *pos = malloc(n * 4);
        uint8_t *ph = malloc(n);
        int16_t *ex = malloc(n * L * K * 2);
        float *wt = malloc(n * L * K * 4), *lg = malloc(n * L * E * 4), *hd = malloc(n * L * D * 4);
        for (size_t j = 0; j < n; j++) {
            size_t t = t0 + j;
            req[j] = 100 + (int32_t)(t % (size_t)requests);
            pos[j] = (int32_t)t;
            ph[j] = (uint8_t)(i % 2);
            for (int l = 0; l < L; l++) {
                for (int k = 0; k < K; k++) {
                    ex[(j * L + l) * K + k] = expert_of(t, l, k);
                    wt[(j * L + l) * K + k] = weight_of(t, l, k);
                }
                for (int e = 0; e < E; e++)
                    lg[(j * L + l) * E + e] = logit_of(t, l, e);
                for (int d = 0; d < D; d++)
                    hd[(j * L + l) * D + d] = hidden_of(t, l, d);
            }
        }
        trace_iteration it = {.id = i, .num_tokens = n, .request = req, .position = pos,
                              .phase = ph, .experts = ex, .weights = wt, .logits = lg,
                              .hidden = hd};
        ck_assert_msg(trace_writer_append(w, &it, &err) == 0, "%s", err.msg);
        free(req); free(pos); free(ph); free(ex); free(wt); free(lg); free(hd);
        t0 += n;
    }
    ck_assert_msg(trace_writer_commit(w, &err) == 0, "%s", err.msg);
    return t0;
}

/* Reads everything back and checks every value; returns tokens seen. */
static size_t check_trace(const char *path, unsigned load, const int *sizes, int nsizes)
{
    promoe_err err = {{0}};
    trace_reader *r = trace_reader_open(path, load, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    trace_iteration it;
    size_t t0 = 0;
    int i = 0, got;
    while ((got = trace_read_iteration(r, &it, &err)) > 0) {
        ck_assert_int_eq(it.id, i);
        ck_assert_int_eq(it.num_tokens, sizes[i % nsizes]);
        ck_assert_int_eq(it.first_token, (int64_t)t0);
        ck_assert((it.weights != NULL) == !!(load & TRACE_WEIGHTS));
        ck_assert((it.logits != NULL) == !!(load & TRACE_LOGITS));
        ck_assert((it.hidden != NULL) == !!(load & TRACE_HIDDEN));
        for (size_t j = 0; j < it.num_tokens; j++) {
            size_t t = t0 + j;
            ck_assert_int_eq(it.position[j], (int32_t)t);
            ck_assert_int_eq(it.phase[j], i % 2);
            for (int l = 0; l < L; l++) {
                for (int k = 0; k < K; k++) {
                    ck_assert_int_eq(it.experts[(j * L + l) * K + k], expert_of(t, l, k));
                    if (it.weights)
                        ck_assert(it.weights[(j * L + l) * K + k] == weight_of(t, l, k));
                }
                for (int e = 0; it.logits && e < E; e++)
                    ck_assert(it.logits[(j * L + l) * E + e] == logit_of(t, l, e));
                for (int d = 0; it.hidden && d < D; d++)
                    ck_assert(it.hidden[(j * L + l) * D + d] == hidden_of(t, l, d));
            }
        }
        t0 += it.num_tokens;
        i++;
    }
    ck_assert_msg(got == 0, "%s", err.msg);
    trace_reader_close(r);
    return t0;
}

static const unsigned ALL = TRACE_WEIGHTS | TRACE_LOGITS | TRACE_HIDDEN | TRACE_ROUTER_WEIGHT;

START_TEST(round_trip_all_datasets)
{
    const char *p = tu_path("all.h5");
    int sizes[] = {5, 1, 1, 3};
    size_t n = write_trace(p, ALL, 40, sizes, 4, 3);
    ck_assert_int_eq(check_trace(p, ALL, sizes, 4), n);
    ck_assert_int_eq(check_trace(p, 0, sizes, 4), n);          /* ids only */
    ck_assert_int_eq(check_trace(p, TRACE_HIDDEN, sizes, 4), n);
    /* uncompressed files hold the same data and are larger */
    const char *raw = tu_path("all-raw.h5");
    write_compression = TRACE_UNCOMPRESSED;
    ck_assert_int_eq(write_trace(raw, ALL, 40, sizes, 4, 3), n);
    write_compression = TRACE_GZIP;
    ck_assert_int_eq(check_trace(raw, ALL, sizes, 4), n);
    struct stat zs, rs;
    ck_assert(stat(p, &zs) == 0 && stat(raw, &rs) == 0);
    ck_assert_int_gt(rs.st_size, zs.st_size);
    ck_assert_int_eq(trace_compression_parse("none"), TRACE_UNCOMPRESSED);
    ck_assert_int_eq(trace_compression_parse("zstd"), -1);

    promoe_err err = {{0}};
    trace_reader *r = trace_reader_open(p, 0, &err);
    ck_assert_ptr_nonnull(r);
    const trace_meta *m = trace_reader_meta(r);
    ck_assert_str_eq(m->model, "test-model");
    ck_assert_str_eq(m->source, "test_trace_format");
    ck_assert_int_eq(m->num_layers, L);
    ck_assert_int_eq(m->num_experts, E);
    ck_assert_int_eq(m->top_k, K);
    ck_assert_int_eq(m->hidden_dim, D);
    ck_assert_int_eq(m->content, ALL);
    ck_assert_int_eq(m->num_tokens, (int64_t)n);
    ck_assert_int_eq(m->num_requests, 3);
    const trace_request *q = trace_reader_requests(r);
    ck_assert_int_eq(q[2].id, 102);
    ck_assert_int_eq(q[2].output_len, 4);
    ck_assert(q[2].arrival_s == 1.0);
    ck_assert_str_eq(q[2].dataset, "set2");
    const float *rw = trace_reader_router_weight(r, &err);
    ck_assert_ptr_nonnull(rw);
    for (int i = 0; i < L * E * D; i++)
        ck_assert(rw[i] == (float)(i % 16) / 4.0f);
    /* a second pass after rewind gives the same first iteration */
    trace_iteration it;
    ck_assert_int_eq(trace_read_iteration(r, &it, &err), 1);
    trace_reader_rewind(r);
    ck_assert_int_eq(trace_read_iteration(r, &it, &err), 1);
    ck_assert_int_eq(it.first_token, 0);
    ck_assert_int_eq(it.num_tokens, 5);
    trace_reader_close(r);
}
END_TEST

START_TEST(float16_rounding_carries_into_the_exponent)
{
    /* Regression: HDF5 1.10's own conversion wrote 0.99998 as 0.5. */
    const char *p = tu_path("half.h5");
    trace_meta m = {.num_layers = 1, .num_experts = 2, .top_k = 1, .hidden_dim = 4,
                    .content = TRACE_HIDDEN | TRACE_ROUTER_WEIGHT};
    promoe_err err = {{0}};
    trace_writer *w = trace_writer_create(p, &m, &err);
    ck_assert_ptr_nonnull(w);
    float h[4] = {0.99998f, -0.49995f, 65504.0f, 1e-3f};
    float rw[8] = {0.99998f, -0.99998f, 0.49995f, 2047.9f, 0, 0, 0, 0};
    int32_t req = 0, pos = 0;
    uint8_t ph = 0;
    int16_t ex = 1;
    trace_iteration it = {.id = 0, .num_tokens = 1, .request = &req, .position = &pos,
                          .phase = &ph, .experts = &ex, .hidden = h};
    trace_request q = {.id = 0, .prompt_len = 1};
    ck_assert_int_eq(trace_writer_set_router_weight(w, rw, &err), 0);
    ck_assert_int_eq(trace_writer_append(w, &it, &err), 0);
    ck_assert_int_eq(trace_writer_add_request(w, &q, &err), 0);
    ck_assert_msg(trace_writer_commit(w, &err) == 0, "%s", err.msg);
    trace_reader *r = trace_reader_open(p, TRACE_HIDDEN, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(trace_read_iteration(r, &it, &err), 1);
    ck_assert(it.hidden[0] == 1.0f);
    ck_assert(it.hidden[1] == -0.5f);
    ck_assert(it.hidden[2] == 65504.0f);
    ck_assert_double_eq_tol(it.hidden[3], 1e-3, 1e-6);
    const float *W = trace_reader_router_weight(r, &err);
    ck_assert(W[0] == 1.0f && W[1] == -1.0f && W[2] == 0.5f && W[3] == 2048.0f);
    trace_reader_close(r);
}
END_TEST

START_TEST(iterations_across_block_boundaries)
{
    /* ids only: about 59k tokens per 8 MB read block at these widths; an
     * iteration of 150k tokens forces the buffer to grow, and odd sizes
     * make iterations straddle block ends. */
    const char *p = tu_path("blocks.h5");
    int sizes[] = {150000, 7, 1, 33333, 1, 1};
    size_t n = write_trace(p, 0, 12, sizes, 6, 2);
    ck_assert_int_eq(check_trace(p, 0, sizes, 6), n);
}
END_TEST

/* Rows in a chunk of dataset `name` of the file at path. */
static long long chunk_rows_of(const char *path, const char *name)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), dcpl = H5Dget_create_plist(d);
    hsize_t chunk[3] = {0};
    int rank = H5Pget_chunk(dcpl, 3, chunk);
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(f);
    return rank > 0 ? (long long)chunk[0] : -1;
}

START_TEST(chunks_fit_a_small_trace)
{
    /* a reader inflates whole chunks: a trace within one write block, and
     * the request table, are chunked no longer than themselves */
    const char *small = tu_path("small.h5");
    int sizes[] = {5};
    ck_assert_int_eq(write_trace(small, ALL, 3, sizes, 1, 2), 15);
    ck_assert_int_eq(chunk_rows_of(small, "tokens/phase"), 15);
    ck_assert_int_eq(chunk_rows_of(small, "routing/experts"), 15);
    ck_assert_int_eq(chunk_rows_of(small, "hidden/input"), 15);
    ck_assert_int_eq(chunk_rows_of(small, "requests/id"), 2);
    ck_assert_int_eq(check_trace(small, ALL, sizes, 1), 15);
    /* past a block (a token's rows: 13 + 12 + 24 + 72 + 24 bytes, so 4 MiB
     * holds 28,926 tokens), chunks of 256 KiB whatever the trace's length:
     * 65,536 one-byte phases (the cap), 262,144 / 12 and / 72 bytes of
     * experts and logits a row */
    const char *big = tu_path("big.h5");
    int big_sizes[] = {40000, 7};
    ck_assert_int_eq(write_trace(big, ALL, 2, big_sizes, 2, 2), 40007);
    ck_assert_int_eq(chunk_rows_of(big, "tokens/phase"), 65536);
    ck_assert_int_eq(chunk_rows_of(big, "routing/experts"), 21845);
    ck_assert_int_eq(chunk_rows_of(big, "routing/logits"), 3640);
    ck_assert_int_eq(check_trace(big, ALL, big_sizes, 2), 40007);
}
END_TEST

START_TEST(writer_is_atomic_and_refuses_bad_data)
{
    const char *p = tu_path("refused.h5");
    trace_meta m = {.num_layers = L, .num_experts = E, .top_k = K};
    promoe_err err = {{0}};
    trace_writer *w = trace_writer_create(p, &m, &err);
    ck_assert_ptr_nonnull(w);
    struct stat st;
    ck_assert_int_ne(stat(p, &st), 0); /* nothing at the final name yet */
    int32_t req = 0, pos = 0;
    uint8_t ph = 1;
    int16_t ex[L * K] = {0, 1, 2, 3, 4, E}; /* E is out of range */
    trace_iteration it = {.id = 3, .num_tokens = 1, .request = &req, .position = &pos,
                          .phase = &ph, .experts = ex};
    ck_assert_int_eq(trace_writer_append(w, &it, &err), -1);
    ck_assert_msg(strstr(err.msg, "expert id 6 out of range [0, 6)"), "%s", err.msg);
    ex[L * K - 1] = -1; /* missing is allowed */
    ck_assert_int_eq(trace_writer_append(w, &it, &err), 0);
    it.id = 2;
    ck_assert_int_eq(trace_writer_append(w, &it, &err), -1);
    ck_assert_msg(strstr(err.msg, "iteration 2 appended after iteration 3"), "%s", err.msg);
    trace_writer_abort(w);
    ck_assert_int_ne(stat(p, &st), 0);
    ck_assert(!tu_leftover_tmp());
    m.top_k = E + 1;
    ck_assert_ptr_null(trace_writer_create(p, &m, &err));
    ck_assert_msg(strstr(err.msg, "invalid trace shape"), "%s", err.msg);
}
END_TEST

/* Copies a valid trace and lets `edit` change it with the HDF5 API. */
static const char *damaged(const char *name, void (*edit)(hid_t f))
{
    const char *src = tu_path("valid.h5");
    struct stat st;
    if (stat(src, &st) != 0) {
        int sizes[] = {4, 1};
        write_trace(src, TRACE_WEIGHTS, 10, sizes, 2, 2);
    }
    const char *dst = tu_path(name);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
    ck_assert_int_eq(system(cmd), 0);
    hid_t f = H5Fopen(dst, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert(f >= 0);
    edit(f);
    H5Fclose(f);
    return dst;
}

static void set_str_attr(hid_t f, const char *name, const char *v)
{
    H5Adelete(f, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, v);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void set_int_attr(hid_t f, const char *name, long long v)
{
    H5Adelete(f, name);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    H5Sclose(s);
}

/* Overwrites element `at` of a 1-D int32 dataset. */
static void poke_i32(hid_t f, const char *path, hsize_t at, int32_t v)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    hid_t fs = H5Dget_space(d);
    hsize_t one = 1;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL);
    hid_t ms = H5Screate_simple(1, &one, NULL);
    H5Dwrite(d, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, &v);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
}

static void edit_format(hid_t f) { set_str_attr(f, "format", "something-else"); }
static void edit_version(hid_t f) { set_int_attr(f, "version", 2); }
static void edit_experts(hid_t f) { set_int_attr(f, "num_experts", 4); }
static void edit_huge_layers(hid_t f) { set_int_attr(f, "num_layers", 1000000000LL); }
static void edit_drop_phase(hid_t f) { H5Ldelete(f, "tokens/phase", H5P_DEFAULT); }
static void edit_order(hid_t f) { poke_i32(f, "tokens/iteration", 20, 0); }
static void edit_request(hid_t f) { poke_i32(f, "tokens/request", 3, 7); }
static void edit_shrink(hid_t f)
{
    hid_t d = H5Dopen2(f, "tokens/position", H5P_DEFAULT);
    hsize_t n = 10;
    H5Dset_extent(d, &n);
    H5Dclose(d);
}
static void edit_topk_shape(hid_t f) { set_int_attr(f, "top_k", 1); }
static void edit_hidden_stride(hid_t f) { set_int_attr(f, "hidden_layer_stride", 0); }
/* every token dataset claims 10^12 rows (unwritten rows read as zeros) */
static void edit_trillion_tokens(hid_t f)
{
    static const char *const sets[] = {"tokens/request", "tokens/position", "tokens/phase",
                                       "tokens/iteration", "routing/experts", "routing/weights"};
    for (int i = 0; i < 6; i++) {
        hid_t d = H5Dopen2(f, sets[i], H5P_DEFAULT);
        hid_t space = H5Dget_space(d);
        hsize_t dims[3];
        H5Sget_simple_extent_dims(space, dims, NULL);
        dims[0] = 1000000000000ULL;
        ck_assert_int_ge(H5Dset_extent(d, dims), 0);
        H5Sclose(space);
        H5Dclose(d);
    }
}

/* Opening and reading PATH fails with a message naming the file and
 * containing WANT. */
static void assert_rejected(const char *path, const char *want)
{
    promoe_err err = {{0}};
    trace_reader *r = trace_reader_open(path, 0, &err);
    if (r) {
        trace_iteration it;
        int got;
        while ((got = trace_read_iteration(r, &it, &err)) > 0)
            ;
        trace_reader_close(r);
        ck_assert_msg(got < 0, "%s was accepted", path);
    }
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "no file name in: %s", err.msg);
    ck_assert_msg(strstr(err.msg, want), "expected '%s' in: %s", want, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}

START_TEST(validation_errors)
{
    assert_rejected(damaged("fmt.h5", edit_format), "not a promoe trace (format attribute is 'something-else')");
    assert_rejected(damaged("ver.h5", edit_version), "unsupported trace version 2");
    assert_rejected(damaged("ids.h5", edit_experts), "expert id 4 out of range [0, 4)");
    assert_rejected(damaged("huge.h5", edit_huge_layers), "num_layers = 1000000000 is outside");
    assert_rejected(damaged("nophase.h5", edit_drop_phase), "missing dataset tokens/phase");
    assert_rejected(damaged("order.h5", edit_order), "token 20: iteration 0 follows iteration");
    assert_rejected(damaged("req.h5", edit_request), "token 3: request 7 is not in requests/id");
    assert_rejected(damaged("shrunk.h5", edit_shrink),
                    "inconsistent shapes: tokens/position has dimension 0 = 10, expected 25");
    assert_rejected(damaged("topk.h5", edit_topk_shape),
                    "inconsistent shapes: routing/experts has dimension 2 = 2, expected 1");
    assert_rejected(damaged("stride.h5", edit_hidden_stride),
                    "hidden_layer_stride is not a whole number in [1, num_layers]");
    /* a claim of 10^12 tokens is streamed, not allocated, and its first
     * unwritten row breaks the iteration order: refused in a moment */
    assert_rejected(damaged("trillion.h5", edit_trillion_tokens),
                    "iteration 0 follows iteration");
    /* truncated: half the bytes of a valid file */
    const char *valid = tu_path("valid.h5"), *cut = tu_path("cut.h5");
    struct stat st;
    ck_assert_int_eq(stat(valid, &st), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "head -c %lld '%s' > '%s'", (long long)st.st_size / 2, valid, cut);
    ck_assert_int_eq(system(cmd), 0);
    assert_rejected(cut, "cannot open HDF5 file (truncated or corrupt)");
    assert_rejected(tu_write_file("text.h5", "hello\n"), "not an HDF5 file");
    assert_rejected(tu_path("absent.h5"), "no such file");
    /* fuzz_trace's find: a chunk of routing/logits whose stored size reads
     * 4294967259 bytes in a 51 KiB file (libhdf5 allocated that much) */
    promoe_err chunk_err = {{0}};
    const char *claim = tu_src_path("tests/fuzz/regressions/trace-chunk-size.h5");
    trace_reader *cr = trace_reader_open(claim, TRACE_WEIGHTS | TRACE_LOGITS | TRACE_HIDDEN,
                                         &chunk_err);
    ck_assert_msg(cr != NULL, "%s", chunk_err.msg);
    trace_iteration cit;
    ck_assert_int_eq(trace_read_iteration(cr, &cit, &chunk_err), -1);
    ck_assert_msg(strstr(chunk_err.msg, "routing/logits: its chunk at row 0 claims 4294967259 "
                                        "bytes, more than the whole file's"), "%s", chunk_err.msg);
    trace_reader_close(cr);
    /* a reader asked for data the file lacks says so */
    promoe_err err = {{0}};
    ck_assert_ptr_null(trace_reader_open(valid, TRACE_HIDDEN, &err));
    ck_assert_msg(strstr(err.msg, "trace has no hidden/input"), "%s", err.msg);
}
END_TEST

/* Every byte of a valid trace's first 4 KiB (superblock and object
 * headers), flipped in turn: the file is refused with one line or read
 * whole, never a crash (the metadata carries checksums, which HDF5 checks
 * before parsing; before they did, a fuzzed header crashed libhdf5 1.10 in
 * H5Aexists).  Most flips must be caught. */
START_TEST(flipped_header_bytes_are_refused)
{
    const char *valid = tu_path("valid.h5"), *bad = tu_path("flipped.h5");
    struct stat st;
    if (stat(valid, &st) != 0) {
        int sizes[] = {4, 1};
        write_trace(valid, TRACE_WEIGHTS, 10, sizes, 2, 2);
    }
    FILE *f = fopen(valid, "rb");
    ck_assert_ptr_nonnull(f);
    static unsigned char bytes[1 << 20];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    ck_assert(n > 4096 && n < sizeof bytes);
    int refused = 0, tried = 0;
    for (size_t at = 0; at < 4096; at += 3, tried++) {
        bytes[at] ^= 0x5a;
        f = fopen(bad, "wb");
        fwrite(bytes, 1, n, f);
        fclose(f);
        bytes[at] ^= 0x5a;
        promoe_err err = {{0}};
        trace_reader *r = trace_reader_open(bad, TRACE_WEIGHTS, &err);
        int got = -1;
        if (r) {
            trace_iteration it;
            while ((got = trace_read_iteration(r, &it, &err)) > 0)
                ;
            trace_reader_close(r);
        }
        if (got < 0) {
            refused++;
            ck_assert_msg(!strchr(err.msg, '\n') && err.msg[0], "byte %zu: '%s'", at, err.msg);
        }
    }
    ck_assert_msg(refused > tried / 2, "only %d of %d flips refused", refused, tried);
}
END_TEST

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

START_TEST(streaming_memory_is_bounded)
{
    /* 600k Mixtral-shaped tokens with ids and weights: 230 MB of token data
     * in memory form.  A child process writes it, so this process's peak
     * RSS reflects only the reading. */
    const char *p = tu_path("big.h5");
    pid_t pid = fork();
    if (pid == 0) {
        model_desc m;
        promoe_err err;
        trace_gen_params g;
        trace_gen_defaults(&g);
        g.hidden_dim = 4;
        g.num_requests = 0;
        g.max_tokens = 600000;
        g.content = TRACE_WEIGHTS;
        _exit(model_load("mixtral-8x7b", &m, &err) || trace_gen_write(&g, &m, p, NULL, &err));
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    long before = max_rss_kb();
    promoe_err err = {{0}};
    trace_reader *r = trace_reader_open(p, TRACE_WEIGHTS, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    const trace_meta *m = trace_reader_meta(r);
    ck_assert_int_eq(m->num_tokens, 600000);
    size_t data_bytes = 600000 * (size_t)(m->num_layers * m->top_k) * (2 + 4);
    trace_iteration it;
    int64_t tokens = 0;
    size_t largest_buffer = 0;
    int got;
    while ((got = trace_read_iteration(r, &it, &err)) > 0) {
        tokens += (int64_t)it.num_tokens;
        if (trace_reader_buffer_bytes(r) > largest_buffer)
            largest_buffer = trace_reader_buffer_bytes(r);
    }
    ck_assert_msg(got == 0, "%s", err.msg);
    trace_reader_close(r);
    ck_assert_int_eq(tokens, 600000);
    long grown_kb = max_rss_kb() - before;
    ck_assert_msg(largest_buffer <= 16u << 20, "buffer grew to %zu bytes", largest_buffer);
#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer keeps freed memory in quarantine */
    ck_assert_msg((size_t)grown_kb * 1024 < data_bytes / 4,
                  "peak RSS grew by %ld kB while reading %zu bytes of token data", grown_kb,
                  data_bytes);
#else
    (void)grown_kb;
    (void)data_bytes;
#endif
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace format");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, round_trip_all_datasets);
    tcase_add_test(tc, float16_rounding_carries_into_the_exponent);
    tcase_add_test(tc, iterations_across_block_boundaries);
    tcase_add_test(tc, chunks_fit_a_small_trace);
    tcase_add_test(tc, writer_is_atomic_and_refuses_bad_data);
    tcase_add_test(tc, validation_errors);
    tcase_add_test(tc, flipped_header_bytes_are_refused);
    tcase_add_test(tc, streaming_memory_is_bounded);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
