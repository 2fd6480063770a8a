#include "exec/profile_writer.h"

#include <gsl/gsl_interp.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic_file.h"
#include "common/clock.h"
#include "exec/backend.h"
#include "exec/expert_store.h"

enum { MAX_TOKENS = 64, POINTS = 7 }; /* t = 1, 2, 4, ..., 64 */

/* The ops' times at t = 1, 2, 4, ..., 64 tokens a step: measured where the
 * backend takes a step's tokens together, else t times one token's. */
typedef struct op_tables {
    double tokens[POINTS];
    exec_op_times at[POINTS];
} op_tables;

static int time_tables(const exec_backend_ops *ops, void *m, int context, int reps,
                       op_tables *tb, promoe_err *err)
{
    for (int i = 0, t = 1; i < POINTS; i++, t *= 2) {
        tb->tokens[i] = t;
        if (i > 0 && !ops->batched) {
            tb->at[i] = (exec_op_times){t * tb->at[0].attention_s, t * tb->at[0].router_s,
                                        t * tb->at[0].expert_s, t * tb->at[0].shared_s};
            continue;
        }
        if (ops->time_ops(m, context, t, reps, &tb->at[i], err) < 0)
            return -1;
    }
    return 0;
}

/* One op's column of the tables. */
static double op_at(const exec_op_times *t, int op)
{
    return op == 0 ? t->attention_s : op == 1 ? t->router_s : op == 2 ? t->expert_s
                                                                      : t->shared_s;
}

static json_t *table_json(const op_tables *tb, int op)
{
    json_t *a = json_array();
    for (int i = 0; i < POINTS; i++)
        json_array_append_new(a, json_pack("[i, f]", (int)tb->tokens[i], op_at(&tb->at[i], op)));
    return a;
}

/* A whole step's routing, counted by the observer: each layer's distinct
 * experts and how many of the step's tokens chose each. */
typedef struct step_routing {
    int E, K, layers;
    int *count;     /* [L][E] */
} step_routing;

static int count_routing(void *ctx, const exec_routing *r, promoe_err *err)
{
    (void)err;
    step_routing *sr = ctx;
    int *c = sr->count + (size_t)r->layer * sr->E;
    memset(c, 0, (size_t)sr->E * sizeof *c);
    for (int i = 0; i < r->tokens * sr->K; i++)
        c[r->experts[i]]++;
    return 0;
}

/* The fixed cost of a step of t tokens: a whole resident step, timed,
 * less its parts priced by the tables (attention, router and shared
 * experts each layer, each layer's distinct experts on their tokens):
 * the output head, norms and residual adds, on a GPU the launches and the
 * routing's round trips.  Never below 0. */
static double step_fixed(const exec_backend_ops *ops, void *r, const exec_weights *w,
                         const op_tables *tb, int point, int context, int reps, double *runs,
                         step_routing *sr, promoe_err *err)
{
    const model_desc *md = &w->model;
    int t = (int)tb->tokens[point];
    int32_t tokens[MAX_TOKENS];
    float *logits = malloc((size_t)md->vocab_size * sizeof *logits);
    if (!logits)
        return promoe_err_set(err, "out of memory");
    for (int i = 0; i < t; i++)
        tokens[i] = (int32_t)((7 + 31 * i) % md->vocab_size);
    for (int k = 0; k < reps; k++) {
        double t0 = clock_now_s();
        if (ops->step(r, tokens, t, context, logits, k ? NULL : count_routing, sr, err) < 0) {
            free(logits);
            return -1;
        }
        runs[k] = clock_now_s() - t0;
    }
    free(logits);
    gsl_sort(runs, 1, (size_t)reps);
    double whole = gsl_stats_median_from_sorted_data(runs, 1, (size_t)reps);
    /* an expert on n tokens: the expert table, interpolated */
    double expert_y[POINTS];
    for (int i = 0; i < POINTS; i++)
        expert_y[i] = tb->at[i].expert_s;
    gsl_interp *in = gsl_interp_alloc(gsl_interp_linear, POINTS);
    if (!in)
        return promoe_err_set(err, "out of memory");
    gsl_interp_init(in, tb->tokens, expert_y, POINTS);
    const exec_op_times *at = &tb->at[point];
    double parts = md->num_layers * (at->attention_s + at->router_s + at->shared_s);
    for (int i = 0; i < md->num_layers * md->num_experts; i++)
        if (sr->count[i])
            parts += gsl_interp_eval(in, tb->tokens, expert_y, sr->count[i], NULL);
    gsl_interp_free(in);
    return whole > parts ? whole - parts : 0;
}

static int measure(const exec_weights *w, const exec_profile_config *cfg, json_t *o,
                   promoe_err *err)
{
    const exec_backend_ops *ops = cfg->backend;
    const model_desc *md = &w->model;
    int positions = 4 * cfg->context + MAX_TOKENS + 1, reps = cfg->reps > 0 ? cfg->reps : 1;
    op_tables near, start;
    exec_op_times far;
    void *m = ops->create(w, positions, 1, err);
    if (!m)
        return -1;
    char device[256];
    ops->describe(m, device, sizeof device);
    json_object_set_new(o, "device", json_string(device));
    int rc = time_tables(ops, m, cfg->context, reps, &near, err);
    if (rc == 0) /* a prompt's first step: nothing cached */
        rc = time_tables(ops, m, 0, reps, &start, err);
    if (rc == 0)
        rc = ops->time_ops(m, 4 * cfg->context, 1, reps, &far, err);
    expert_mover mv = ops->mover(m);
    expert_store *s = NULL;
    expert_store_config sc = {.num_layers = md->num_layers, .num_experts = md->num_experts,
                              .capacity = 1, .chunks = 1};
    if (rc == 0 && !(s = expert_store_create(&mv, &sc, err)))
        rc = -1;
    size_t expert = mv.expert_bytes;
    size_t sizes[3] = {expert / 3, expert, 4 * expert};
    json_t *transfer = json_array();
    for (int i = 0; i < 3 && rc == 0; i++) {
        double t = expert_store_time_copy(s, sizes[i], reps, err);
        if (t < 0)
            rc = promoe_err_prefix(err, "timing a copy of %zu bytes", sizes[i]);
        json_array_append_new(transfer, json_pack("[I, f]", (json_int_t)sizes[i], t));
    }
    expert_store_free(s);
    ops->destroy(m);
    /* whole steps on a model with every expert resident, where it fits */
    json_t *fixed = NULL;
    promoe_err fit;
    void *r = rc == 0 ? ops->create(w, positions, 0, &fit) : NULL;
    step_routing sr = {.E = md->num_experts, .K = md->top_k, .layers = md->num_layers,
                       .count = calloc((size_t)md->num_layers * md->num_experts, sizeof(int))};
    double *runs = malloc((size_t)reps * sizeof *runs);
    if (r && sr.count && runs) {
        fixed = json_array();
        for (int i = 0; i < POINTS && rc == 0; i++) {
            if (i > 0 && !ops->batched)
                break; /* a step of one token only */
            double f = step_fixed(ops, r, w, &near, i, cfg->context, reps, runs, &sr, err);
            if (f < 0)
                rc = -1;
            json_array_append_new(fixed, json_pack("[i, f]", (int)near.tokens[i], f));
        }
        if (json_array_size(fixed) == 1) /* a table needs two points: flat */
            json_array_append_new(fixed, json_pack("[i, f]", MAX_TOKENS,
                                                   json_real_value(json_array_get(
                                                       json_array_get(fixed, 0), 1))));
    }
    if (r)
        ops->destroy(r);
    free(sr.count);
    free(runs);
    if (rc < 0) {
        json_decref(transfer);
        json_decref(fixed);
        return -1;
    }
    double slope = cfg->context > 0
                       ? (far.attention_s - near.at[0].attention_s) / (3.0 * cfg->context) : 0;
    json_object_set_new(o, "attention", table_json(&near, 0));
    json_object_set_new(o, "attention_context", json_integer(cfg->context));
    json_object_set_new(o, "attention_start", table_json(&start, 0));
    json_object_set_new(o, "attention_per_context_s", json_real(slope > 0 ? slope : 0));
    json_object_set_new(o, "router", table_json(&near, 1));
    json_object_set_new(o, "expert", table_json(&near, 2));
    if (md->num_shared_experts)
        json_object_set_new(o, "shared_experts", table_json(&near, 3));
    json_object_set_new(o, "transfer", transfer);
    if (fixed)
        json_object_set_new(o, "step_fixed", fixed);
    return 0;
}

int exec_profile_write(const exec_weights *w, const exec_profile_config *cfg, const char *path,
                       promoe_err *err)
{
    json_t *o = json_pack("{s:s, s:i, s:s}", "format", "promoe-profile", "version", 1,
                          "model", w->model.name);
    if (!o)
        return promoe_err_set(err, "out of memory");
    int rc = measure(w, cfg, o, err);
    atomic_file af;
    if (rc == 0 && (rc = atomic_file_begin(&af, path, 1, err)) == 0) {
        if (json_dumpf(o, af.fp, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) ||
            fputc('\n', af.fp) == EOF) {
            atomic_file_abort(&af);
            rc = promoe_err_set(err, "%s: cannot write the profile", path);
        } else {
            rc = atomic_file_commit(&af, err);
        }
    }
    json_decref(o);
    return rc;
}
