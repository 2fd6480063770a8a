#include "sim/profile.h"

#include <gsl/gsl_interp.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[PROFILE_NUM_OPS] = {
    [PROFILE_ATTENTION] = "attention", [PROFILE_ROUTER] = "router", [PROFILE_EXPERT] = "expert",
    [PROFILE_SHARED] = "shared_experts", [PROFILE_TRANSFER] = "transfer",
    [PROFILE_STEP_FIXED] = "step_fixed", [PROFILE_ATTENTION_START] = "attention_start",
};

void profile_free(cost_profile *p)
{
    for (int i = 0; i < PROFILE_NUM_OPS; i++) {
        if (p->op[i].interp)
            gsl_interp_free(p->op[i].interp);
        if (p->op[i].accel)
            gsl_interp_accel_free(p->op[i].accel);
        free(p->op[i].x);
        free(p->op[i].y);
    }
    memset(p, 0, sizeof *p);
}

static int read_table(const char *path, json_t *arr, const char *name, profile_table *t,
                      promoe_err *err)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n < 2)
        return promoe_err_set(err, "%s: \"%s\" must be a list of at least two [x, seconds] "
                              "points", path, name);
    t->x = malloc(n * sizeof *t->x);
    t->y = malloc(n * sizeof *t->y);
    if (!t->x || !t->y)
        return promoe_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *pt = json_array_get(arr, i);
        json_t *x = json_array_get(pt, 0), *y = json_array_get(pt, 1);
        if (json_array_size(pt) != 2 || !json_is_number(x) || !json_is_number(y))
            return promoe_err_set(err, "%s: \"%s\" point %zu is not [x, seconds]", path, name, i);
        t->x[i] = json_number_value(x);
        t->y[i] = json_number_value(y);
        if (!(t->y[i] >= 0) || !isfinite(t->y[i]))
            return promoe_err_set(err, "%s: \"%s\" point %zu has a negative or invalid time",
                                  path, name, i);
        if (i > 0 && !(t->x[i] > t->x[i - 1]))
            return promoe_err_set(err, "%s: \"%s\" must list increasing x (point %zu)", path,
                                  name, i);
    }
    t->n = (int)n;
    t->interp = gsl_interp_alloc(gsl_interp_linear, n);
    t->accel = gsl_interp_accel_alloc();
    if (!t->interp || !t->accel)
        return promoe_err_set(err, "out of memory");
    gsl_interp_init(t->interp, t->x, t->y, n);
    return 0;
}

/* A string member, or "" when absent. */
static const char *string_of(json_t *root, const char *key)
{
    const char *s = json_string_value(json_object_get(root, key));
    return s ? s : "";
}

int profile_load(const char *path, cost_profile *p, promoe_err *err)
{
    memset(p, 0, sizeof *p);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return promoe_err_set(err, "%s:%d: %s", path, je.line, je.text);
    int rc = -1;
    json_t *fmt = json_object_get(root, "format"), *ver = json_object_get(root, "version");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "promoe-profile") != 0) {
        promoe_err_set(err, "%s: not a promoe profile (no \"format\": \"promoe-profile\")", path);
        goto out;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        promoe_err_set(err, "%s: unsupported profile version (this promoe reads version 1)", path);
        goto out;
    }
    snprintf(p->model, sizeof p->model, "%s", string_of(root, "model"));
    snprintf(p->device, sizeof p->device, "%s", string_of(root, "device"));
    for (int i = 0; i < PROFILE_NUM_OPS; i++) {
        json_t *arr = json_object_get(root, op_names[i]);
        if (!arr) {
            if (i == PROFILE_SHARED || i == PROFILE_STEP_FIXED || i == PROFILE_ATTENTION_START)
                continue; /* optional */
            promoe_err_set(err, "%s: missing table \"%s\"", path, op_names[i]);
            goto out;
        }
        if (read_table(path, arr, op_names[i], &p->op[i], err) < 0)
            goto out;
    }
    json_t *ctx = json_object_get(root, "attention_context");
    json_t *slope = json_object_get(root, "attention_per_context_s");
    if ((ctx && !json_is_number(ctx)) || (slope && !json_is_number(slope))) {
        promoe_err_set(err, "%s: attention_context and attention_per_context_s must be numbers",
                       path);
        goto out;
    }
    p->attention_context = ctx ? json_number_value(ctx) : 0;
    p->attention_per_context_s = slope ? json_number_value(slope) : 0;
    rc = 0;
out:
    json_decref(root);
    if (rc < 0)
        profile_free(p);
    return rc;
}

double profile_eval(const profile_table *t, double x)
{
    int n = t->n;
    double v;
    if (x < t->x[0] || x > t->x[n - 1]) {
        /* extend the end segment */
        int a = x < t->x[0] ? 0 : n - 2;
        double slope = (t->y[a + 1] - t->y[a]) / (t->x[a + 1] - t->x[a]);
        v = t->y[a] + slope * (x - t->x[a]);
    } else {
        v = gsl_interp_eval(t->interp, t->x, t->y, x, t->accel);
    }
    return v > 0 ? v : 0;
}
