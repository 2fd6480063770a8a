/* import_csv.c - long-form CSV, one row per (token, layer, rank):
 *   request,token,phase,layer,rank,expert,weight[,iteration]
 * with that header line (columns in any order; weight may be empty or the
 * column absent).  Rows of one (request, token, layer) must be adjacent.
 * Fields are plain numbers or the words prefill/decode: quoting is not
 * part of the format and is rejected. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "traces/trace_import.h"

#define FAIL(...) (promoe_err_set(err, __VA_ARGS__), promoe_err_prefix(err, "%s:%ld", name, lineno))

enum { C_REQUEST, C_TOKEN, C_PHASE, C_LAYER, C_RANK, C_EXPERT, C_WEIGHT, C_ITERATION, NUM_COLS };
static const char *const col_names[NUM_COLS] = {"request", "token",
                                                 "phase", "layer", "rank", "expert", "weight",
                                                 "iteration"};

/* Splits line at commas in place; returns the number of fields. */
static int split(char *line, char **fields, int max)
{
    int n = 0;
    for (char *p = line;; p++) {
        if (n < max)
            fields[n] = p;
        n++;
        p = strchr(p, ',');
        if (!p)
            break;
        *p = '\0';
    }
    return n;
}

static int parse_i64(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *v = x;
    return 0;
}

/* The group of rows being collected for one (request, token, layer). */
typedef struct group {
    trace_record r;
    int64_t ids[TRACE_MAX_TOP_K];
    double wts[TRACE_MAX_TOP_K];
    int filled[TRACE_MAX_TOP_K];
    int active;
} group;

static int flush(group *g, trace_builder *b, const char *name, promoe_err *err)
{
    if (!g->active)
        return 0;
    long lineno = g->r.line;
    for (int k = 0; k < g->r.num_experts; k++)
        if (!g->filled[k])
            return FAIL("request %lld token %lld layer %lld: rank %d is missing",
                        (long long)g->r.request, (long long)g->r.token, (long long)g->r.layer, k);
    g->active = 0;
    return trace_builder_add(b, &g->r, err);
}

static int read_csv(FILE *in, const char *name, const trace_import_opts *o, trace_builder *b,
                    promoe_err *err)
{
    char *line = NULL, *f[NUM_COLS + 1];
    size_t cap = 0;
    long lineno = 0;
    int col[NUM_COLS], ncols, got, rc = 0, has_weight = 0;
    group *g = calloc(1, sizeof *g);
    if (!g)
        return promoe_err_set(err, "out of memory");
    if ((got = import_next_line(in, &line, &cap, &lineno)) <= 0) {
        rc = got < 0 ? promoe_err_set(err, "%s: read error", name)
                     : promoe_err_set(err, "%s: empty file (expected a header line)", name);
        goto out;
    }
    ncols = split(line, f, NUM_COLS + 1);
    for (int c = 0; c < NUM_COLS; c++) {
        col[c] = -1;
        for (int i = 0; i < ncols && i <= NUM_COLS; i++)
            if (strcmp(f[i], col_names[c]) == 0)
                col[c] = i;
        if (col[c] < 0 && c != C_WEIGHT && c != C_ITERATION) {
            rc = FAIL("header lacks column '%s' (expected request,token,phase,layer,rank,"
                      "expert,weight)", col_names[c]);
            goto out;
        }
    }
    while (rc == 0 && (got = import_next_line(in, &line, &cap, &lineno)) > 0) {
        if (strchr(line, '"')) {
            rc = FAIL("quoted fields are not part of this format");
            break;
        }
        int n = split(line, f, NUM_COLS + 1);
        if (n != ncols) {
            rc = FAIL("%d fields, but the header has %d", n, ncols);
            break;
        }
        int64_t v[NUM_COLS] = {0};
        double weight = 0;
        int weighted = 0;
        for (int c = 0; c < NUM_COLS && rc == 0; c++) {
            if (col[c] < 0)
                continue;
            const char *s = f[col[c]];
            if (c == C_PHASE) {
                v[c] = import_parse_phase(s);
                if (v[c] < 0)
                    rc = FAIL("phase '%s' is neither prefill nor decode", s);
            } else if (c == C_WEIGHT) {
                char *end;
                if (!*s)
                    continue;
                weight = strtod(s, &end);
                if (*end)
                    rc = FAIL("weight '%s' is not a number", s);
                weighted = 1;
            } else if (c == C_ITERATION && !*s) {
                v[c] = -1;
            } else if (parse_i64(s, &v[c]) < 0) {
                rc = FAIL("%s '%s' is not an integer", col_names[c], s);
            }
        }
        if (rc)
            break;
        if (col[C_ITERATION] < 0)
            v[C_ITERATION] = -1;
        if (v[C_RANK] < 0 || v[C_RANK] >= TRACE_MAX_TOP_K) {
            rc = FAIL("rank %lld out of range [0, %d)", (long long)v[C_RANK], TRACE_MAX_TOP_K);
            break;
        }
        int same = g->active && g->r.request == v[C_REQUEST] && g->r.token == v[C_TOKEN] &&
                   g->r.layer == v[C_LAYER];
        if (!same) {
            if ((rc = flush(g, b, name, err)) != 0)
                break;
            memset(g, 0, sizeof *g);
            g->active = 1;
            g->r = (trace_record){.request = v[C_REQUEST], .token = v[C_TOKEN],
                                  .phase = (int)v[C_PHASE], .layer = v[C_LAYER],
                                  .iteration = v[C_ITERATION], .experts = g->ids,
                                  .weights = weighted ? g->wts : NULL, .line = lineno};
            has_weight = weighted;
        } else if (weighted != has_weight || v[C_PHASE] != g->r.phase ||
                   v[C_ITERATION] != g->r.iteration) {
            rc = FAIL("row disagrees with the rows before it for the same (request, token, layer)");
            break;
        }
        int k = (int)v[C_RANK];
        if (g->filled[k]) {
            rc = FAIL("rank %d given twice for request %lld token %lld layer %lld", k,
                      (long long)v[C_REQUEST], (long long)v[C_TOKEN], (long long)v[C_LAYER]);
            break;
        }
        g->filled[k] = 1;
        g->ids[k] = v[C_EXPERT];
        g->wts[k] = weight;
        if (k + 1 > g->r.num_experts)
            g->r.num_experts = k + 1;
    }
    if (rc == 0 && got < 0)
        rc = promoe_err_set(err, "%s: read error", name);
    if (rc == 0)
        rc = flush(g, b, name, err);
out:
    free(line);
    free(g);
    return rc;
}

const trace_importer import_csv = {
    "csv",
    "long form, a row per (token, layer, rank): request,token,phase,layer,rank,expert,weight",
    read_csv,
};
