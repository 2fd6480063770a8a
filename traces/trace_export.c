#include "traces/trace_export.h"

#include <stdio.h>
#include <string.h>

#include "common/atomic_file.h"
#include "traces/trace.h"

typedef struct trace_exporter {
    const char *name;
    void (*header)(FILE *out, const trace_meta *m);
    /* Writes one (token, layer) with its n experts (missing ones dropped). */
    void (*record)(FILE *out, const trace_iteration *it, size_t t, int layer,
                   const int16_t *ids, const float *wts, int n);
} trace_exporter;

static const char *phase_name(uint8_t p)
{
    return p == TRACE_PREFILL ? "prefill" : "decode";
}

/* Gate weights print with 9 significant digits: enough to read back the
 * same float32. */
static void jsonl_record(FILE *out, const trace_iteration *it, size_t t, int layer,
                         const int16_t *ids, const float *wts, int n)
{
    fprintf(out, "{\"request\": %d, \"token\": %d, \"phase\": \"%s\", \"layer\": %d, "
            "\"iteration\": %d, \"experts\": [", it->request[t], it->position[t],
            phase_name(it->phase[t]), layer, it->id);
    for (int k = 0; k < n; k++)
        fprintf(out, "%s%d", k ? ", " : "", ids[k]);
    if (wts) {
        fputs("], \"weights\": [", out);
        for (int k = 0; k < n; k++)
            fprintf(out, "%s%.9g", k ? ", " : "", (double)wts[k]);
    }
    fputs("]}\n", out);
}

static void csv_header(FILE *out, const trace_meta *m)
{
    fputs("request,token,phase,layer,rank,expert,weight,iteration\n", out);
}

static void csv_record(FILE *out, const trace_iteration *it, size_t t, int layer,
                       const int16_t *ids, const float *wts, int n)
{
    for (int k = 0; k < n; k++) {
        fprintf(out, "%d,%d,%s,%d,%d,%d,", it->request[t], it->position[t],
                phase_name(it->phase[t]), layer, k, ids[k]);
        if (wts)
            fprintf(out, "%.9g", (double)wts[k]);
        fprintf(out, ",%d\n", it->id);
    }
}

static const trace_exporter exporters[] = {
    {"jsonl", NULL, jsonl_record},
    {"csv", csv_header, csv_record},
};
#define NUM_EXPORTERS (sizeof exporters / sizeof exporters[0])

static const trace_exporter *find_exporter(const char *name)
{
    for (size_t i = 0; i < NUM_EXPORTERS; i++)
        if (strcmp(exporters[i].name, name) == 0)
            return &exporters[i];
    return NULL;
}

int trace_exporter_known(const char *name)
{
    return find_exporter(name) != NULL;
}

const char *trace_exporter_names(void)
{
    return "jsonl, csv";
}

static int export_stream(const trace_exporter *ex, trace_reader *r, FILE *out, promoe_err *err)
{
    const trace_meta *m = trace_reader_meta(r);
    int L = m->num_layers, K = m->top_k;
    int16_t ids[TRACE_MAX_TOP_K];
    float wts[TRACE_MAX_TOP_K];
    if (ex->header)
        ex->header(out, m);
    trace_iteration it;
    int got;
    while ((got = trace_read_iteration(r, &it, err)) > 0) {
        for (size_t t = 0; t < it.num_tokens; t++)
            for (int l = 0; l < L; l++) {
                size_t at = (t * (size_t)L + (size_t)l) * (size_t)K;
                int n = 0;
                for (int k = 0; k < K; k++)
                    if (it.experts[at + k] >= 0) {
                        ids[n] = it.experts[at + k];
                        wts[n++] = it.weights ? it.weights[at + k] : 0.0f;
                    }
                if (n)
                    ex->record(out, &it, t, l, ids, it.weights ? wts : NULL, n);
            }
    }
    return got;
}

int trace_export_file(const char *format, const char *in_path, const char *out_path,
                      promoe_err *err)
{
    const trace_exporter *ex = find_exporter(format);
    if (!ex)
        return promoe_err_set(err, "unknown export format '%s' (formats: %s)", format,
                              trace_exporter_names());
    trace_meta meta;
    if (trace_read_meta(in_path, &meta, err) < 0)
        return -1;
    trace_reader *r = trace_reader_open(in_path, meta.content & TRACE_WEIGHTS, err);
    if (!r)
        return -1;
    int to_stdout = !out_path || strcmp(out_path, "-") == 0;
    atomic_file af = {0};
    if (!to_stdout && atomic_file_begin(&af, out_path, 1, err) < 0) {
        trace_reader_close(r);
        return -1;
    }
    FILE *out = to_stdout ? stdout : af.fp;
    int rc = export_stream(ex, r, out, err);
    trace_reader_close(r);
    if (to_stdout) {
        if (rc == 0 && fflush(stdout) != 0)
            return promoe_err_set(err, "standard output: write failed");
        return rc;
    }
    if (rc < 0) {
        atomic_file_abort(&af);
        return -1;
    }
    return atomic_file_commit(&af, err);
}
