#include "traces/trace_calibrate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traces/trace_stats.h"

#define ROUNDS 3
#define STEPS 6 /* bisection steps a knob a round: 1/64 of its range */

static const struct {
    const char *name, *option;
    double lo, hi;
} knobs[CAL_NUM] = {
    [CAL_SKEW] = {"popularity skew (Gini, mean)", "--skew", 0.0, 4.0},
    [CAL_REUSE] = {"next-token reuse", "--token-corr", 0.0, 0.995},
    [CAL_CROSS_LAYER] = {"cross-layer predictability", "--router-corr", 0.0, 1.0},
};

const char *trace_calibrate_stat_name(int stat) { return knobs[stat].name; }
const char *trace_calibrate_knob_option(int stat) { return knobs[stat].option; }

static double *knob_of(trace_gen_params *p, int stat)
{
    return stat == CAL_SKEW ? &p->skew : stat == CAL_REUSE ? &p->token_corr : &p->router_corr;
}

static double mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s / n;
}

/* The three statistics of the trace at PATH. */
static int measure(const char *path, double out[CAL_NUM], trace_meta *meta, promoe_err *err)
{
    trace_stats s;
    if (trace_stats_compute(path, &s, NULL, err) < 0)
        return -1;
    out[CAL_SKEW] = mean(s.gini, s.meta.num_layers);
    out[CAL_REUSE] = s.reuse;
    out[CAL_CROSS_LAYER] = s.cross_layer;
    if (meta)
        *meta = s.meta;
    trace_stats_free(&s);
    return 0;
}

typedef struct probe {
    trace_gen_params p;   /* the probe's generator */
    const model_desc *m;
    char path[4096];
    int count, total;
    void (*progress)(int64_t, int64_t);
} probe;

static int run_probe(probe *pr, double out[CAL_NUM], promoe_err *err)
{
    int rc = trace_gen_write(&pr->p, pr->m, pr->path, NULL, err);
    if (rc == 0)
        rc = measure(pr->path, out, NULL, err);
    unlink(pr->path);
    pr->count++;
    if (pr->progress)
        pr->progress(pr->count, pr->total);
    return rc;
}

/* The probe's shape: the real trace's requests, lengths fixed at their
 * means, at most CALIBRATE_PROBE_TOKENS tokens. */
static void shape_probe(probe *pr, const char *real_path, const trace_meta *meta)
{
    double prompt = 0, decode = 0;
    trace_reader *r = trace_reader_open(real_path, 0, &(promoe_err){{0}});
    int64_t n = meta->num_requests;
    if (r) {
        const trace_request *q = trace_reader_requests(r);
        for (int64_t i = 0; i < n; i++) {
            prompt += q[i].prompt_len;
            decode += q[i].output_len;
        }
        trace_reader_close(r);
    }
    pr->p.prompt_mean = n ? fmax(1, prompt / (double)n) : pr->p.prompt_mean;
    pr->p.output_mean = n ? fmax(1, decode / (double)n) : pr->p.output_mean;
    pr->p.length_sigma = 0;
    pr->p.num_requests = 0;
    pr->p.max_tokens = meta->num_tokens < CALIBRATE_PROBE_TOKENS ? meta->num_tokens
                                                                  : CALIBRATE_PROBE_TOKENS;
    pr->p.content = 0;
    pr->p.compression = TRACE_UNCOMPRESSED;
    pr->p.progress = NULL;
}

int trace_calibrate(const char *real_path, const model_desc *m, trace_gen_params *p,
                    trace_calibration *out, void (*progress)(int64_t done, int64_t total),
                    promoe_err *err)
{
    memset(out, 0, sizeof *out);
    trace_meta meta;
    if (measure(real_path, out->target, &meta, err) < 0)
        return -1;
    if (meta.num_layers != m->num_layers || meta.num_experts != m->num_experts ||
        meta.top_k != m->top_k)
        return promoe_err_set(err, "%s: the trace has %d layers, %d experts, top-%d; model %s "
                              "has %d, %d, top-%d (is -m right?)", real_path, meta.num_layers,
                              meta.num_experts, meta.top_k, m->name, m->num_layers,
                              m->num_experts, m->top_k);
    int fitted = 0;
    for (int s = 0; s < CAL_NUM; s++) {
        out->fitted[s] = !isnan(out->target[s]);
        fitted += out->fitted[s];
    }
    if (!fitted)
        return promoe_err_set(err, "%s: the trace has none of the statistics to fit", real_path);
    probe pr = {.p = *p, .m = m, .progress = progress, .total = ROUNDS * fitted * STEPS + 1};
    shape_probe(&pr, real_path, &meta);
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/promoe-calibrate-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return promoe_err_set(err, "%s: cannot make a folder for probe traces", dir);
    snprintf(pr.path, sizeof pr.path, "%s/probe.h5", dir);
    int rc = 0;
    double got[CAL_NUM];
    for (int round = 0; round < ROUNDS && rc == 0; round++) {
        for (int s = 0; s < CAL_NUM && rc == 0; s++) {
            if (!out->fitted[s])
                continue;
            double *knob = knob_of(&pr.p, s), lo = knobs[s].lo, hi = knobs[s].hi;
            double best = *knob, best_gap = INFINITY;
            for (int step = 0; step < STEPS && rc == 0; step++) {
                *knob = 0.5 * (lo + hi);
                rc = run_probe(&pr, got, err);
                double gap = fabs(got[s] - out->target[s]);
                if (gap < best_gap) {
                    best_gap = gap;
                    best = *knob;
                }
                *(got[s] < out->target[s] ? &lo : &hi) = *knob;
            }
            /* the ends themselves, when bisection closed in on one */
            if (rc == 0 && (lo == knobs[s].lo || hi == knobs[s].hi)) {
                *knob = lo == knobs[s].lo ? lo : hi;
                pr.total++;
                rc = run_probe(&pr, got, err);
                if (fabs(got[s] - out->target[s]) < best_gap)
                    best = *knob;
            }
            *knob = best;
        }
    }
    if (rc == 0)
        rc = run_probe(&pr, out->reached, err);
    rmdir(dir);
    if (rc < 0)
        return -1;
    for (int s = 0; s < CAL_NUM; s++) {
        out->knob[s] = *knob_of(&pr.p, s);
        out->missed[s] = out->fitted[s] &&
                         fabs(out->reached[s] - out->target[s]) > CALIBRATE_TOLERANCE;
        *knob_of(p, s) = out->knob[s];
    }
    out->probes = pr.count;
    out->probe_tokens = pr.p.max_tokens;
    return 0;
}
