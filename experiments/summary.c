#include "experiments/summary.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A row's column as text, as grouping and filters compare it. */
static int column_text(json_t *row, const char *col, char *buf, size_t len)
{
    json_t *v = json_object_get(row, col);
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%.10g", json_real_value(v));
    else
        return -1;
    return 0;
}

static int matches(json_t *row, const summary_opts *o)
{
    for (int w = 0; w < o->num_where; w++) {
        const char *eq = strchr(o->where[w], '=');
        char col[128], text[512];
        snprintf(col, sizeof col, "%.*s", (int)(eq - o->where[w]), o->where[w]);
        if (column_text(row, col, text, sizeof text) < 0 || strcmp(text, eq + 1) != 0)
            return 0;
    }
    return 1;
}

/* The baseline's key: point key with AXIS=... replaced by AXIS=VALUE; 1 if
 * the point is the baseline itself, -1 if the key has no such axis. */
static int baseline_key(const char *key, const char *baseline, char *buf, size_t len)
{
    size_t an = strcspn(baseline, "=");
    const char *s = key;
    size_t at = 0;
    int found = 0, same = 0;
    buf[0] = '\0';
    while (*s) {
        size_t n = strcspn(s, " ");
        int hit = n > an && strncmp(s, baseline, an) == 0 && s[an] == '=';
        const char *part = hit ? baseline : s;
        size_t pn = hit ? strlen(baseline) : n;
        if (hit) {
            found = 1;
            same = n == pn && strncmp(s, baseline, n) == 0;
        }
        if (at + pn + 2 > len)
            return -1;
        if (at)
            buf[at++] = ' ';
        memcpy(buf + at, part, pn);
        at += pn;
        buf[at] = '\0';
        s += n;
        s += strspn(s, " ");
    }
    return found ? same : -1;
}

static json_t *run_row(const results *r, const char *key, json_int_t index)
{
    if (results_status(r, key) != RESULTS_OK)
        return NULL;
    return json_array_get(results_complete_run(r, key), (size_t)index);
}

/* Groups sort column by column: a column's numbers in numeric order (so
 * lines run left to right whatever order the points ended in), other
 * values in the order first seen (rank). */
static int by_columns(const void *pa, const void *pb)
{
    const summary_group *a = pa, *b = pb;
    for (int k = 0; k < SUMMARY_MAX_BY && a->values[k]; k++) {
        char *ea, *eb;
        double x = strtod(a->values[k], &ea), y = strtod(b->values[k], &eb);
        int numbers = !*ea && !*eb && ea != a->values[k] && eb != b->values[k];
        if (numbers && x != y)
            return (x > y) - (x < y);
        if (!numbers && a->rank[k] != b->rank[k])
            return (a->rank[k] > b->rank[k]) - (a->rank[k] < b->rank[k]);
    }
    return 0;
}

/* Each group's rank per column: the first group (in the order seen) that
 * has its value there. */
static void rank_values(summary *s, int num_by)
{
    for (long g = 0; g < s->num_groups; g++)
        for (int k = 0; k < num_by; k++) {
            long first = 0;
            while (strcmp(s->groups[first].values[k], s->groups[g].values[k]) != 0)
                first++; /* stops at g at the latest */
            s->groups[g].rank[k] = first;
        }
}

int summary_compute(const results *r, const summary_opts *o, summary *out, promoe_err *err)
{
    *out = (summary){0};
    if (o->baseline && !strchr(o->baseline, '='))
        return promoe_err_set(err, "baseline '%s': expected AXIS=VALUE", o->baseline);
    for (int w = 0; w < o->num_where; w++)
        if (!strchr(o->where[w], '='))
            return promoe_err_set(err, "filter '%s': expected COLUMN=VALUE", o->where[w]);
    json_t *groups = json_object(), *order = json_array();
    int metric_seen = 0;
    size_t i, j;
    json_t *key, *row;
    json_array_foreach(r->order, i, key) {
        const char *k = json_string_value(key);
        json_t *run = json_object_get(r->latest, k);
        json_array_foreach(run, j, row) {
            if (!run_row(r, k, (json_int_t)j) || !matches(row, o))
                continue;
            json_t *m = json_object_get(row, o->metric);
            if (m)
                metric_seen = 1;
            if (!json_is_number(m)) {
                out->rows_without_metric++;
                continue;
            }
            double x = json_number_value(m);
            if (o->baseline) {
                char bk[2048];
                if (baseline_key(k, o->baseline, bk, sizeof bk) < 0) {
                    json_decref(groups);
                    json_decref(order);
                    return promoe_err_set(err, "baseline %s: the results have no axis '%.*s'",
                                          o->baseline, (int)strcspn(o->baseline, "="),
                                          o->baseline);
                }
                json_t *b = run_row(r, bk, (json_int_t)j);
                json_t *bm = b ? json_object_get(b, o->metric) : NULL;
                if (!json_is_number(bm) || x == 0) {
                    out->rows_without_baseline++;
                    continue;
                }
                x = json_number_value(bm) / x;
            }
            char gk[2048] = "", text[512];
            size_t at = 0;
            for (int b = 0; b < o->num_by; b++) {
                if (column_text(row, o->by[b], text, sizeof text) < 0)
                    snprintf(text, sizeof text, "-");
                at += (size_t)snprintf(gk + at, sizeof gk - at, "%s\x1f", text);
                if (at >= sizeof gk)
                    at = sizeof gk - 1;
            }
            json_t *g = json_object_get(groups, gk);
            if (!g) {
                g = json_array();
                json_object_set_new(groups, gk, g);
                json_array_append_new(order, json_string(gk));
            }
            json_array_append_new(g, json_real(x));
            out->rows_used++;
        }
    }
    if (!metric_seen && r->rows_read) {
        json_decref(groups);
        json_decref(order);
        return promoe_err_set(err, "no results row has a column '%s'", o->metric);
    }
    out->groups = calloc(json_array_size(order) + 1, sizeof *out->groups);
    json_array_foreach(order, i, key) {
        const char *gk = json_string_value(key);
        json_t *g = json_object_get(groups, gk);
        summary_group *sg = &out->groups[out->num_groups++];
        const char *s = gk;
        for (int b = 0; b < o->num_by; b++) {
            size_t n = strcspn(s, "\x1f");
            sg->values[b] = strndup(s, n);
            s += n + 1;
        }
        size_t n = json_array_size(g);
        double *x = malloc(n * sizeof *x);
        for (size_t t = 0; t < n; t++)
            x[t] = json_real_value(json_array_get(g, t));
        sg->n = (long)n;
        sg->mean = gsl_stats_mean(x, 1, n);
        sg->sd = n > 1 ? gsl_stats_sd_m(x, 1, n, sg->mean) : 0;
        double half = n > 1 ? gsl_cdf_tdist_Pinv(0.5 + o->level / 2, (double)(n - 1)) * sg->sd /
                                  sqrt((double)n)
                            : 0;
        sg->lo = sg->mean - half;
        sg->hi = sg->mean + half;
        free(x);
    }
    rank_values(out, o->num_by);
    qsort(out->groups, (size_t)out->num_groups, sizeof *out->groups, by_columns);
    json_decref(groups);
    json_decref(order);
    return 0;
}

void summary_free(summary *s)
{
    for (long g = 0; g < s->num_groups; g++)
        for (int b = 0; b < SUMMARY_MAX_BY; b++)
            free(s->groups[g].values[b]);
    free(s->groups);
    *s = (summary){0};
}
