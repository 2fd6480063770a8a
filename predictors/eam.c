/* eam.c - MoE-Infinity's expert activation matrices.  Each request builds
 * a matrix of how often it chose each (layer, expert).  A request missing
 * from a step is done (every active request runs in every step, batched or
 * not) and joins a library (the most recent `library` of them, default 256).
 * Once per step, each of the step's requests is matched with the `match`
 * library matrices (default 3) most similar to its matrix so far (cosine
 * similarity); a target layer is predicted from their rows, weighted by
 * similarity, plus the request's own history at that layer.  Works on
 * traces with expert ids only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "predictors/predictor.h"

#define EAM_ACTIVE 64 /* requests followed at once; the oldest is retired */

typedef struct eam_request {
    int32_t request;
    uint64_t used;
    double *m;            /* [L][E] */
    int best[8];          /* this step's matches (library slots), -1 = none */
    double sim[8];
} eam_request;

typedef struct eam {
    int L, E, K, lib_cap, match;
    eam_request active[EAM_ACTIVE];
    int n_active;
    uint64_t clock;
    double *lib;          /* [lib_cap][L][E], a ring */
    int lib_n, lib_next;
    int step[EAM_ACTIVE], step_n, matched;
} eam;

typedef struct eam_options {
    long library, match;
} eam_options;

static int set_option(void *ctx, const char *key, const char *value, promoe_err *err)
{
    eam_options *o = ctx;
    if (strcmp(key, "library") == 0)
        return options_int(key, value, 1, 1 << 16, &o->library, err);
    if (strcmp(key, "match") == 0)
        return options_int(key, value, 1, 8, &o->match, err);
    return promoe_err_set(err, "unknown option '%s' (options: library, match)", key);
}

static void eam_destroy(void *st)
{
    eam *p = st;
    for (int i = 0; i < p->n_active; i++)
        free(p->active[i].m);
    free(p->lib);
    free(p);
}

static void *eam_create(const predictor_env *env, const char *options, promoe_err *err)
{
    eam_options o = {256, 3};
    if (options_parse("predictor eam", options, set_option, &o, err) < 0)
        return NULL;
    size_t cells = (size_t)env->num_layers * env->num_experts;
    if ((size_t)o.library * cells > ((size_t)1 << 27)) {
        promoe_err_set(err, "predictor eam: a library of %ld matrices of %zu cells is too large",
                       o.library, cells);
        return NULL;
    }
    eam *p = calloc(1, sizeof *p);
    if (!p || !(p->lib = malloc((size_t)o.library * cells * sizeof *p->lib))) {
        free(p);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    p->L = env->num_layers;
    p->E = env->num_experts;
    p->K = env->top_k;
    p->lib_cap = (int)o.library;
    p->match = (int)o.match;
    return p;
}

static void retire(eam *p, eam_request *r)
{
    size_t cells = (size_t)p->L * p->E;
    memcpy(p->lib + (size_t)p->lib_next * cells, r->m, cells * sizeof *r->m);
    p->lib_next = (p->lib_next + 1) % p->lib_cap;
    if (p->lib_n < p->lib_cap)
        p->lib_n++;
}

/* The matrix of request id, made (retiring the oldest) if new. */
static eam_request *request_of(eam *p, int32_t id)
{
    int oldest = 0;
    for (int i = 0; i < p->n_active; i++) {
        if (p->active[i].request == id) {
            p->active[i].used = ++p->clock;
            return &p->active[i];
        }
        if (p->active[i].used < p->active[oldest].used)
            oldest = i;
    }
    size_t cells = (size_t)p->L * p->E;
    eam_request *r;
    if (p->n_active < EAM_ACTIVE) {
        r = &p->active[p->n_active];
        if (!(r->m = malloc(cells * sizeof *r->m)))
            return NULL;
        p->n_active++;
    } else {
        r = &p->active[oldest];
        retire(p, r);
    }
    r->request = id;
    r->used = ++p->clock;
    memset(r->m, 0, cells * sizeof *r->m);
    return r;
}

static void eam_begin(void *st)
{
    eam *p = st;
    p->step_n = 0;
    p->matched = 0;
}

/* Retires the followed requests that have no token in this step. */
static void retire_absent(eam *p, const predictor_obs *obs)
{
    for (int i = 0; i < p->n_active;) {
        int present = 0;
        for (size_t t = 0; t < obs->num_tokens && !present; t++)
            present = obs->request[t] == p->active[i].request;
        if (present) {
            i++;
            continue;
        }
        retire(p, &p->active[i]);
        free(p->active[i].m);
        p->active[i] = p->active[--p->n_active];
    }
}

static void eam_observe(void *st, const predictor_obs *obs)
{
    eam *p = st;
    if (obs->layer == 0)
        retire_absent(p, obs);
    for (size_t t = 0; t < obs->num_tokens; t++) {
        eam_request *r = request_of(p, obs->request[t]);
        if (!r)
            return;
        for (int k = 0; k < p->K; k++) {
            int e = obs->experts[t * (size_t)p->K + k];
            if (e >= 0)
                r->m[(size_t)obs->layer * p->E + e] += 1;
        }
        if (obs->layer == 0 && (t == 0 || obs->request[t] != obs->request[t - 1]) &&
            p->step_n < EAM_ACTIVE)
            p->step[p->step_n++] = (int)(r - p->active);
    }
}

/* Picks each step request's most similar library matrices. */
static void match(eam *p)
{
    size_t cells = (size_t)p->L * p->E;
    for (int s = 0; s < p->step_n; s++) {
        eam_request *r = &p->active[p->step[s]];
        double rn = 0;
        for (size_t c = 0; c < cells; c++)
            rn += r->m[c] * r->m[c];
        for (int j = 0; j < p->match; j++) {
            r->best[j] = -1;
            r->sim[j] = 0;
        }
        for (int i = 0; i < p->lib_n && rn > 0; i++) {
            const double *m = p->lib + (size_t)i * cells;
            double dot = 0, mn = 0;
            for (size_t c = 0; c < cells; c++) {
                dot += r->m[c] * m[c];
                mn += m[c] * m[c];
            }
            double sim = mn > 0 ? dot / sqrt(rn * mn) : 0;
            /* insert into the request's best `match`, highest first */
            for (int j = 0; j < p->match; j++)
                if (r->best[j] < 0 || sim > r->sim[j]) {
                    memmove(&r->best[j + 1], &r->best[j], (size_t)(p->match - j - 1) * sizeof(int));
                    memmove(&r->sim[j + 1], &r->sim[j], (size_t)(p->match - j - 1) * sizeof(double));
                    r->best[j] = i;
                    r->sim[j] = sim;
                    break;
                }
        }
    }
    p->matched = 1;
}

/* Adds row `layer` of matrix m, scaled to sum to `weight`. */
static void add_row(const eam *p, const double *m, int layer, double weight, double *scores)
{
    const double *row = m + (size_t)layer * p->E;
    double sum = 0;
    for (int e = 0; e < p->E; e++)
        sum += row[e];
    for (int e = 0; sum > 0 && e < p->E; e++)
        scores[e] += weight * row[e] / sum;
}

static void eam_predict(void *st, int ahead, int layer, double *scores)
{
    eam *p = st;
    memset(scores, 0, (size_t)p->E * sizeof *scores);
    if (!p->matched)
        match(p);
    size_t cells = (size_t)p->L * p->E;
    for (int s = 0; s < p->step_n; s++) {
        const eam_request *r = &p->active[p->step[s]];
        add_row(p, r->m, layer, 1.0, scores);
        for (int j = 0; j < p->match && r->best[j] >= 0; j++)
            add_row(p, p->lib + (size_t)r->best[j] * cells, layer, r->sim[j], scores);
    }
}

const predictor_ops predictor_eam = {
    .name = "eam",
    .summary = "MoE-Infinity's request activation matrices matched by cosine similarity",
    .create = eam_create,
    .begin_iteration = eam_begin,
    .observe = eam_observe,
    .predict = eam_predict,
    .destroy = eam_destroy,
};
