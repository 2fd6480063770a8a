#include "exec/profile_writer.h"

#include <jansson.h>

#include "common/atomic_file.h"
#include "exec/backend.h"
#include "exec/expert_store.h"

/* [[t, t * per_token], ...] for t = 1, 2, 4, ..., 64. */
static json_t *per_token_table(double per_token)
{
    json_t *a = json_array();
    for (int t = 1; t <= 64; t *= 2)
        json_array_append_new(a, json_pack("[i, f]", t, t * per_token));
    return a;
}

static int measure(const exec_weights *w, const exec_profile_config *cfg, json_t *o,
                   promoe_err *err)
{
    exec_op_times near, far;
    const exec_backend_ops *ops = cfg->backend;
    void *m = ops->create(w, 4 * cfg->context + 2, 1, err);
    if (!m)
        return -1;
    char device[256];
    ops->describe(m, device, sizeof device);
    json_object_set_new(o, "device", json_string(device));
    int rc = ops->time_ops(m, cfg->context, cfg->reps, &near, err);
    if (rc == 0)
        rc = ops->time_ops(m, 4 * cfg->context, cfg->reps, &far, err);
    expert_mover mv = ops->mover(m);
    expert_store *s = NULL;
    const model_desc *md = &w->model;
    expert_store_config sc = {.num_layers = md->num_layers, .num_experts = md->num_experts,
                              .capacity = 1, .chunks = 1};
    if (rc == 0 && !(s = expert_store_create(&mv, &sc, err)))
        rc = -1;
    size_t expert = mv.expert_bytes;
    size_t sizes[3] = {expert / 3, expert, 4 * expert};
    json_t *transfer = json_array();
    for (int i = 0; i < 3 && rc == 0; i++) {
        double t = expert_store_time_copy(s, sizes[i], cfg->reps, err);
        if (t < 0)
            rc = promoe_err_prefix(err, "timing a copy of %zu bytes", sizes[i]);
        json_array_append_new(transfer, json_pack("[I, f]", (json_int_t)sizes[i], t));
    }
    expert_store_free(s);
    ops->destroy(m);
    if (rc < 0) {
        json_decref(transfer);
        return -1;
    }
    double slope = cfg->context > 0
                       ? (far.attention_s - near.attention_s) / (3.0 * cfg->context) : 0;
    json_object_set_new(o, "attention", per_token_table(near.attention_s));
    json_object_set_new(o, "attention_context", json_integer(cfg->context));
    json_object_set_new(o, "attention_per_context_s", json_real(slope > 0 ? slope : 0));
    json_object_set_new(o, "router", per_token_table(near.router_s));
    json_object_set_new(o, "expert", per_token_table(near.expert_s));
    if (w->model.num_shared_experts)
        json_object_set_new(o, "shared_experts", per_token_table(near.shared_s));
    json_object_set_new(o, "transfer", transfer);
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
