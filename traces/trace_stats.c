#include "traces/trace_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/topk.h"

/* Past this, per-request state for the reuse figure is refused. */
#define STATS_MAX_STATE_BYTES (1ULL << 31)

void trace_stats_free(trace_stats *s)
{
    free(s->gini);
    free(s->entropy);
    free(s->reuse_layer);
    free(s->cross_layer_layer);
    memset(s, 0, sizeof *s);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Gini coefficient of n counts: sum_i (2i - n - 1) c_(i) / (n sum c), with
 * the counts sorted ascending and i from 1. */
static double gini(int64_t *c, int n)
{
    qsort(c, (size_t)n, sizeof *c, cmp_i64);
    double total = 0, weighted = 0;
    for (int i = 0; i < n; i++) {
        total += (double)c[i];
        weighted += (2.0 * (i + 1) - n - 1) * (double)c[i];
    }
    return total > 0 ? weighted / (n * total) : 0.0;
}

static double norm_entropy(const int64_t *c, int n)
{
    double total = 0, h = 0;
    for (int i = 0; i < n; i++)
        total += (double)c[i];
    for (int i = 0; i < n; i++)
        if (c[i] > 0) {
            double p = (double)c[i] / total;
            h -= p * log(p);
        }
    return n > 1 && total > 0 ? h / log((double)n) : 0.0;
}

/* Scratch and per-request state shared by the two passes. */
typedef struct stats_work {
    int L, E, K;
    int64_t *count;        /* [L][E] selections */
    int64_t *cooc;         /* [L-1][E][E] */
    int32_t *req_ids;      /* sorted request ids */
    int16_t *last;         /* [R][L][K] previous token's experts */
    uint8_t *has_last;     /* [R] */
    double *reuse_hit, *reuse_tot;  /* [L] */
    double *cross_hit, *cross_tot;  /* [L-1] */
    double pop_hit, pop_tot;
    double *score;         /* [E] */
    int *pick;             /* [E] */
    int64_t reuse_tokens;
    int *pop_rank;         /* [L][E]: rank of each expert by popularity */
    trace_stats_progress progress;
    int64_t done, total;   /* tokens over both passes, for progress */
} stats_work;

static void report(stats_work *w, size_t tokens)
{
    w->done += (int64_t)tokens;
    if (w->progress)
        w->progress(w->done, w->total);
}

static int count_pass(trace_reader *r, trace_stats *s, stats_work *w, promoe_err *err)
{
    int L = w->L, E = w->E, K = w->K;
    trace_iteration it;
    int got;
    int32_t last_iter = INT32_MIN;
    while ((got = trace_read_iteration(r, &it, err)) > 0) {
        if (it.id != last_iter)
            s->iterations++;
        last_iter = it.id;
        for (size_t t = 0; t < it.num_tokens; t++) {
            const int16_t *x = it.experts + t * (size_t)L * K;
            if (it.phase[t] == TRACE_PREFILL)
                s->prefill_tokens++;
            else
                s->decode_tokens++;
            for (int l = 0; l < L; l++)
                for (int k = 0; k < K; k++) {
                    int e = x[l * K + k];
                    if (e < 0) {
                        s->missing++;
                        continue;
                    }
                    w->count[(size_t)l * E + e]++;
                    if (l + 1 < L)
                        for (int j = 0; j < K; j++) {
                            int e2 = x[(l + 1) * K + j];
                            if (e2 >= 0)
                                w->cooc[((size_t)l * E + e) * E + e2]++;
                        }
                }
        }
        report(w, it.num_tokens);
    }
    return got;
}

/* Share of `actual` (K entries, -1 = missing) among the top |actual| of
 * w->score; adds to *hit and *tot. */
static void score_prediction(stats_work *w, const int16_t *actual, double *hit, double *tot)
{
    int n = 0;
    for (int k = 0; k < w->K; k++)
        n += actual[k] >= 0;
    if (n == 0)
        return;
    topk_select(w->score, w->E, n, w->pick);
    for (int k = 0; k < w->K; k++)
        for (int j = 0; actual[k] >= 0 && j < n; j++)
            if (w->pick[j] == actual[k])
                (*hit)++;
    *tot += n;
}

/* How many of a's experts b also holds; a's size into *size_a.  A pair in
 * which either record is missing is no data point (size 0), not a miss. */
static int overlap(const int16_t *a, const int16_t *b, int K, int *size_a)
{
    int hits = 0, n = 0;
    *size_a = 0;
    if (trace_record_missing(a, K) || trace_record_missing(b, K))
        return 0;
    for (int k = 0; k < K; k++) {
        if (a[k] < 0)
            continue;
        n++;
        for (int j = 0; j < K; j++)
            if (b[j] == a[k]) {
                hits++;
                break;
            }
    }
    *size_a = n;
    return hits;
}

static int predict_pass(trace_reader *r, stats_work *w, promoe_err *err)
{
    int L = w->L, E = w->E, K = w->K;
    size_t R = (size_t)trace_reader_meta(r)->num_requests;
    trace_iteration it;
    int got;
    while ((got = trace_read_iteration(r, &it, err)) > 0) {
        for (size_t t = 0; t < it.num_tokens; t++) {
            const int16_t *x = it.experts + t * (size_t)L * K;
            int32_t *at = bsearch(&it.request[t], w->req_ids, R, sizeof *w->req_ids, cmp_i32);
            size_t ri = (size_t)(at - w->req_ids);
            int16_t *prev = w->last + ri * (size_t)L * K;
            if (it.phase[t] == TRACE_DECODE && w->has_last[ri]) {
                w->reuse_tokens++;
                for (int l = 0; l < L; l++) {
                    int n, hits = overlap(x + l * K, prev + l * K, K, &n);
                    w->reuse_hit[l] += hits;
                    w->reuse_tot[l] += n;
                }
            }
            memcpy(prev, x, (size_t)L * K * sizeof *prev);
            w->has_last[ri] = 1;
            for (int l = 0; l < L; l++) {
                /* the n most popular experts are those ranked below n */
                const int *rank = w->pop_rank + (size_t)l * E;
                int n = 0, hits = 0;
                for (int k = 0; k < K; k++)
                    n += x[l * K + k] >= 0;
                for (int k = 0; k < K; k++)
                    hits += x[l * K + k] >= 0 && rank[x[l * K + k]] < n;
                w->pop_hit += hits;
                w->pop_tot += n;
                if (l + 1 == L)
                    continue;
                memset(w->score, 0, (size_t)E * sizeof *w->score);
                for (int k = 0; k < K; k++) {
                    int e = x[l * K + k];
                    if (e < 0)
                        continue;
                    const int64_t *row = w->cooc + ((size_t)l * E + e) * E;
                    for (int e2 = 0; e2 < E; e2++)
                        w->score[e2] += (double)row[e2];
                }
                score_prediction(w, x + (l + 1) * K, &w->cross_hit[l], &w->cross_tot[l]);
            }
        }
        report(w, it.num_tokens);
    }
    return got;
}

static void work_free(stats_work *w)
{
    free(w->count);
    free(w->cooc);
    free(w->req_ids);
    free(w->last);
    free(w->has_last);
    free(w->reuse_hit);
    free(w->reuse_tot);
    free(w->cross_hit);
    free(w->cross_tot);
    free(w->score);
    free(w->pick);
    free(w->pop_rank);
}

int trace_stats_compute(const char *path, trace_stats *s, trace_stats_progress progress,
                        promoe_err *err)
{
    memset(s, 0, sizeof *s);
    trace_reader *r = trace_reader_open(path, 0, err);
    if (!r)
        return -1;
    s->meta = *trace_reader_meta(r);
    size_t L = (size_t)s->meta.num_layers, E = (size_t)s->meta.num_experts;
    size_t K = (size_t)s->meta.top_k, R = (size_t)s->meta.num_requests;
    stats_work w = {.L = (int)L, .E = (int)E, .K = (int)K, .progress = progress,
                    .total = 2 * s->meta.num_tokens};
    int rc = -1;
    if ((unsigned long long)R * L * K * 2 + (L ? L - 1 : 0) * E * E * 8 > STATS_MAX_STATE_BYTES) {
        promoe_err_set(err, "%s: too many requests or experts to analyse in memory", path);
        goto out;
    }
    w.count = calloc(L * E, sizeof *w.count);
    w.cooc = calloc((L > 1 ? L - 1 : 1) * E * E, sizeof *w.cooc);
    w.req_ids = malloc((R + 1) * sizeof *w.req_ids);
    w.last = malloc((R + 1) * L * K * sizeof *w.last);
    w.has_last = calloc(R + 1, 1);
    w.reuse_hit = calloc(L, sizeof(double));
    w.reuse_tot = calloc(L, sizeof(double));
    w.cross_hit = calloc(L, sizeof(double));
    w.cross_tot = calloc(L, sizeof(double));
    w.score = malloc(E * sizeof(double));
    w.pick = malloc(E * sizeof(int));
    w.pop_rank = malloc(L * E * sizeof(int));
    s->gini = calloc(L, sizeof(double));
    s->entropy = calloc(L, sizeof(double));
    s->reuse_layer = calloc(L, sizeof(double));
    s->cross_layer_layer = calloc(L, sizeof(double));
    if (!w.count || !w.cooc || !w.req_ids || !w.last || !w.has_last || !w.reuse_hit ||
        !w.reuse_tot || !w.cross_hit || !w.cross_tot || !w.score || !w.pick || !w.pop_rank || !s->gini ||
        !s->entropy || !s->reuse_layer || !s->cross_layer_layer) {
        promoe_err_set(err, "%s: out of memory for statistics", path);
        goto out;
    }
    const trace_request *reqs = trace_reader_requests(r);
    for (size_t i = 0; i < R; i++)
        w.req_ids[i] = reqs[i].id;
    qsort(w.req_ids, R, sizeof *w.req_ids, cmp_i32);

    if (count_pass(r, s, &w, err) < 0)
        goto out;
    for (size_t l = 0; l < L; l++) {
        s->entropy[l] = norm_entropy(w.count + l * E, (int)E);
        int64_t *tmp = malloc(E * sizeof *tmp);
        if (!tmp) {
            promoe_err_set(err, "out of memory");
            goto out;
        }
        memcpy(tmp, w.count + l * E, E * sizeof *tmp);
        s->gini[l] = gini(tmp, (int)E);
        free(tmp);
        /* popularity order, ties to the lower id, as topk_select breaks them */
        for (size_t e = 0; e < E; e++)
            w.score[e] = (double)w.count[l * E + e];
        topk_select(w.score, (int)E, (int)E, w.pick);
        for (size_t i = 0; i < E; i++)
            w.pop_rank[l * E + (size_t)w.pick[i]] = (int)i;
    }
    trace_reader_rewind(r);
    if (predict_pass(r, &w, err) < 0)
        goto out;
    double rh = 0, rt = 0, ch = 0, ct = 0;
    for (size_t l = 0; l < L; l++) {
        s->reuse_layer[l] = w.reuse_tot[l] > 0 ? w.reuse_hit[l] / w.reuse_tot[l] : NAN;
        rh += w.reuse_hit[l];
        rt += w.reuse_tot[l];
        if (l + 1 < L) {
            s->cross_layer_layer[l] = w.cross_tot[l] > 0 ? w.cross_hit[l] / w.cross_tot[l] : NAN;
            ch += w.cross_hit[l];
            ct += w.cross_tot[l];
        }
    }
    s->reuse_tokens = w.reuse_tokens;
    s->reuse = rt > 0 ? rh / rt : NAN;
    s->cross_layer = ct > 0 ? ch / ct : NAN;
    s->popularity = w.pop_tot > 0 ? w.pop_hit / w.pop_tot : NAN;
    rc = 0;
out:
    work_free(&w);
    trace_reader_close(r);
    if (rc < 0)
        trace_stats_free(s);
    return rc;
}
