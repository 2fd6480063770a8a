/* bench_trace - trace write and streaming-read throughput (make bench).
 *
 * Writes a 1M-token Mixtral-8x7B-shaped trace (32 layers, top-2; ids and
 * gate weights only) through the one writer, as decode-heavy traffic
 * (requests of a 128-token prefill iteration and 256 one-token decode
 * iterations), then streams it back with and without weights; once with
 * gzip (the default) and once uncompressed.  Ids and weights are random
 * (the worst case for compression) and come from a pool drawn once, so
 * only trace I/O is timed. */
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "traces/trace.h"

enum { L = 32, E = 8, K = 2, POOL = 65536, PROMPT = 128, OUTPUT = 256 };

static int die(const promoe_err *err)
{
    fprintf(stderr, "bench_trace: %s\n", err->msg);
    return 1;
}

static int read_all(const char *path, unsigned load, int64_t *tokens, double *seconds,
                    promoe_err *err)
{
    double t0 = clock_now_s();
    trace_reader *r = trace_reader_open(path, load, err);
    if (!r)
        return -1;
    trace_iteration it;
    int got;
    int64_t n = 0, checksum = 0;
    while ((got = trace_read_iteration(r, &it, err)) > 0) {
        n += (int64_t)it.num_tokens;
        checksum += it.experts[0];
    }
    trace_reader_close(r);
    *seconds = clock_now_s() - t0;
    *tokens = n;
    return got < 0 || checksum < 0 ? -1 : 0;
}

static int bench(int64_t total, const char *path, int compression);

int main(int argc, char **argv)
{
    int64_t total = argc > 1 ? atoll(argv[1]) : 1000000;
    const char *path = argc > 2 ? argv[2] : "bench-trace.h5";
    printf("trace benchmark: %lld Mixtral-8x7B-shaped tokens (32 layers, top-2), ids and "
           "gate weights\n", (long long)total);
    return bench(total, path, TRACE_GZIP) || bench(total, path, TRACE_UNCOMPRESSED);
}

static int bench(int64_t total, const char *path, int compression)
{
    promoe_err err = {{0}};
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int16_t *ex = malloc((size_t)POOL * L * K * sizeof *ex);
    float *wt = malloc((size_t)POOL * L * K * sizeof *wt);
    int32_t *req = calloc(POOL, sizeof *req), *pos = calloc(POOL, sizeof *pos);
    uint8_t *ph = calloc(POOL, 1);
    for (size_t i = 0; i < (size_t)POOL * L; i++) {
        int a = (int)gsl_rng_uniform_int(rng, E), b = (int)gsl_rng_uniform_int(rng, E - 1);
        ex[2 * i] = (int16_t)a;
        ex[2 * i + 1] = (int16_t)(b >= a ? b + 1 : b);
        wt[2 * i] = (float)(0.5 + 0.5 * gsl_rng_uniform(rng));
        wt[2 * i + 1] = 1.0f - wt[2 * i];
    }
    trace_meta meta = {.num_layers = L, .num_experts = E, .top_k = K, .content = TRACE_WEIGHTS,
                       .compression = compression};
    snprintf(meta.model, sizeof meta.model, "mixtral-8x7b");
    snprintf(meta.source, sizeof meta.source, "bench_trace");

    double t0 = clock_now_s();
    trace_writer *w = trace_writer_create(path, &meta, &err);
    if (!w)
        return die(&err);
    int64_t done = 0;
    int32_t iteration = 0, request = 0;
    size_t at = 0;
    while (done < total) {
        trace_request q = {.id = request, .prompt_len = PROMPT, .output_len = OUTPUT};
        if (trace_writer_add_request(w, &q, &err) < 0)
            return die(&err);
        for (int step = 0; step <= OUTPUT && done < total; step++) {
            size_t n = step == 0 ? PROMPT : 1;
            if ((int64_t)n > total - done)
                n = (size_t)(total - done);
            if (at + n > POOL)
                at = 0;
            for (size_t j = 0; j < n; j++) {
                req[at + j] = request;
                pos[at + j] = step == 0 ? (int32_t)j : PROMPT + step - 1;
                ph[at + j] = step != 0;
            }
            trace_iteration it = {.id = iteration++, .num_tokens = n, .request = req + at,
                                  .position = pos + at, .phase = ph + at,
                                  .experts = ex + at * L * K, .weights = wt + at * L * K};
            if (trace_writer_append(w, &it, &err) < 0)
                return die(&err);
            at += n;
            done += (int64_t)n;
        }
        request++;
    }
    if (trace_writer_commit(w, &err) < 0)
        return die(&err);
    double write_s = clock_now_s() - t0;
    struct stat st;
    stat(path, &st);

    int64_t n1, n2;
    double read_s, ids_s;
    if (read_all(path, TRACE_WEIGHTS, &n1, &read_s, &err) < 0 ||
        read_all(path, 0, &n2, &ids_s, &err) < 0)
        return die(&err);
    double raw = (double)total * L * K * (2 + 4) / 1e6;
    printf("%s: %d iterations, %.1f MB on disk (%.1f MB in memory)\n",
           compression == TRACE_GZIP ? "gzip" : "uncompressed", iteration,
           (double)st.st_size / 1e6, raw);
    printf("  write            %6.2f s  %10.0f tokens/s\n", write_s, (double)total / write_s);
    printf("  read ids+weights %6.2f s  %10.0f tokens/s\n", read_s, (double)n1 / read_s);
    printf("  read ids only    %6.2f s  %10.0f tokens/s\n", ids_s, (double)n2 / ids_s);
    unlink(path);
    gsl_rng_free(rng);
    free(ex);
    free(wt);
    free(req);
    free(pos);
    free(ph);
    return n1 == total && n2 == total ? 0 : 1;
}
