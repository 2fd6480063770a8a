/* access_curve.c - per-layer expert access counts and their concentration
 * curve (see access_curve.h). */
#include "traces/access_curve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "traces/trace.h"

void access_counts_free(access_counts *c)
{
    free(c->layer_id);
    free(c->count);
    free(c->sorted);
    memset(c, 0, sizeof *c);
}

static int counts_alloc(access_counts *c, int L, int E, const char *path, promoe_err *err)
{
    c->num_layers = L;
    c->num_experts = E;
    c->layer_id = malloc((size_t)L * sizeof *c->layer_id);
    c->count = calloc((size_t)L * (size_t)E, sizeof *c->count);
    c->sorted = malloc((size_t)L * (size_t)E * sizeof *c->sorted);
    if (!c->layer_id || !c->count || !c->sorted) {
        access_counts_free(c);
        promoe_err_set(err, "%s: out of memory for %d x %d access counts", path, L, E);
        return -1;
    }
    return 0;
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* Each layer's counts, most frequent first, for the curve. */
static void sort_counts(access_counts *c)
{
    size_t E = (size_t)c->num_experts;
    memcpy(c->sorted, c->count, (size_t)c->num_layers * E * sizeof *c->sorted);
    for (int l = 0; l < c->num_layers; l++)
        qsort(c->sorted + (size_t)l * E, E, sizeof *c->sorted, cmp_desc);
}

int access_counts_from_trace(const char *path, access_counts *c, promoe_err *err)
{
    memset(c, 0, sizeof *c);
    trace_reader *r = trace_reader_open(path, 0, err);
    if (!r)
        return -1;
    const trace_meta *m = trace_reader_meta(r);
    int L = m->num_layers, E = m->num_experts, K = m->top_k;
    if (counts_alloc(c, L, E, path, err) < 0) {
        trace_reader_close(r);
        return -1;
    }
    for (int l = 0; l < L; l++)
        c->layer_id[l] = l;
    trace_iteration it;
    int got;
    while ((got = trace_read_iteration(r, &it, err)) > 0)
        for (size_t i = 0; i < it.num_tokens * (size_t)L * (size_t)K; i++) {
            int e = it.experts[i];
            if (e >= 0) /* the reader has checked e < E */
                c->count[(i / (size_t)K) % (size_t)L * (size_t)E + (size_t)e]++;
        }
    trace_reader_close(r);
    if (got < 0) {
        access_counts_free(c);
        return -1;
    }
    sort_counts(c);
    return 0;
}

typedef struct count_row {
    long long layer, expert, count;
} count_row;

static int cmp_row(const void *a, const void *b)
{
    const count_row *x = a, *y = b;
    if (x->layer != y->layer)
        return (x->layer > y->layer) - (x->layer < y->layer);
    return (x->expert > y->expert) - (x->expert < y->expert);
}

/* One "layer,expert,count" line of non-negative integers; 0 or -1. */
static int parse_row(const char *line, count_row *row)
{
    long long v[3];
    const char *p = line;
    for (int i = 0; i < 3; i++) {
        char *end;
        if (*p < '0' || *p > '9')
            return -1;
        errno = 0;
        v[i] = strtoll(p, &end, 10);
        if (errno || end == p || *end != (i < 2 ? ',' : '\0'))
            return -1;
        p = end + 1;
    }
    *row = (count_row){v[0], v[1], v[2]};
    return 0;
}

/* Reads every row (sorted by layer, expert) into *rows. */
static int read_rows(const char *path, FILE *fp, count_row **rows, size_t *n, promoe_err *err)
{
    char *line = NULL;
    size_t cap = 0, have = 0;
    ssize_t len;
    long long lineno = 0;
    int rc = -1;
    *rows = NULL;
    *n = 0;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (lineno == 1) {
            if (strcmp(line, "layer,expert,count") != 0) {
                promoe_err_set(err, "%s: line 1: expected the header 'layer,expert,count'", path);
                goto out;
            }
            continue;
        }
        if (len == 0)
            continue;
        count_row row;
        if (parse_row(line, &row) < 0) {
            promoe_err_set(err, "%s: line %lld: expected three non-negative integers "
                           "'layer,expert,count'", path, lineno);
            goto out;
        }
        if (row.layer >= TRACE_MAX_LAYERS || row.expert >= TRACE_MAX_EXPERTS) {
            promoe_err_set(err, "%s: line %lld: layer %lld or expert %lld out of range "
                           "(at most %d layers, %d experts)", path, lineno, row.layer,
                           row.expert, TRACE_MAX_LAYERS, TRACE_MAX_EXPERTS);
            goto out;
        }
        count_row *grown = grow_array(*rows, &have, *n + 1, sizeof *grown, 256);
        if (!grown) {
            promoe_err_set(err, "%s: out of memory", path);
            goto out;
        }
        *rows = grown;
        (*rows)[(*n)++] = row;
    }
    if (ferror(fp)) {
        promoe_err_set(err, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    if (*n == 0) {
        promoe_err_set(err, "%s: no counts (only a header, or empty)", path);
        goto out;
    }
    qsort(*rows, *n, sizeof **rows, cmp_row);
    for (size_t i = 1; i < *n; i++)
        if (cmp_row(&(*rows)[i - 1], &(*rows)[i]) == 0) {
            promoe_err_set(err, "%s: layer %lld expert %lld is listed twice", path,
                           (*rows)[i].layer, (*rows)[i].expert);
            goto out;
        }
    rc = 0;
out:
    free(line);
    if (rc < 0) {
        free(*rows);
        *rows = NULL;
    }
    return rc;
}

int access_counts_from_csv(const char *path, access_counts *c, promoe_err *err)
{
    memset(c, 0, sizeof *c);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        promoe_err_set(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    count_row *rows;
    size_t n;
    int rc = read_rows(path, fp, &rows, &n, err);
    fclose(fp);
    if (rc < 0)
        return -1;
    int L = 0, E = 0;
    for (size_t i = 0; i < n; i++) {
        L += i == 0 || rows[i].layer != rows[i - 1].layer;
        if (rows[i].expert + 1 > E)
            E = (int)rows[i].expert + 1;
    }
    if (counts_alloc(c, L, E, path, err) < 0) {
        free(rows);
        return -1;
    }
    for (size_t i = 0, l = 0; i < n; i++) {
        if (i > 0 && rows[i].layer != rows[i - 1].layer)
            l++;
        c->layer_id[l] = (int)rows[i].layer;
        c->count[l * (size_t)E + (size_t)rows[i].expert] = rows[i].count;
    }
    sort_counts(c);
    free(rows);
    return rc;
}

/* Layer l's share at x, or -1 when it has no access. */
static double layer_share(const access_counts *c, int l, double x)
{
    int E = c->num_experts;
    const int64_t *sorted = c->sorted + (size_t)l * E;
    double total = 0;
    for (int e = 0; e < E; e++)
        total += (double)sorted[e];
    if (total <= 0)
        return -1;
    double pos = x * E, taken = 0;
    int whole = (int)pos;
    for (int e = 0; e < whole && e < E; e++)
        taken += (double)sorted[e];
    if (whole < E)
        taken += (pos - whole) * (double)sorted[whole];
    return taken / total;
}

double access_curve_share(const access_counts *c, int l, double x)
{
    double sum = 0;
    int layers = 0;
    for (int i = l < 0 ? 0 : l; i < (l < 0 ? c->num_layers : l + 1); i++) {
        double s = layer_share(c, i, x);
        if (s >= 0) {
            sum += s;
            layers++;
        }
    }
    return layers ? sum / layers : 0;
}
