/* import_jsonl.c - one JSON object per (token, layer):
 *   {"request": r, "token": t, "phase": "prefill"|"decode", "layer": l,
 *    "experts": [ids in rank order], "weights": [...], "iteration": i}
 * "weights" and "iteration" are optional; every key can be renamed with
 * --field NAME=KEY so traces from other tools import without code. */
#include <jansson.h>

#include "traces/trace_import.h"

#define FAIL(...) (promoe_err_set(err, __VA_ARGS__), promoe_err_prefix(err, "%s:%ld", name, lineno))

/* Reads a required integer field. */
static int get_int(json_t *root, const trace_import_opts *o, int f, int64_t *v, const char *name,
                   long lineno, promoe_err *err)
{
    json_t *j = json_object_get(root, o->keys[f]);
    if (!j)
        return FAIL("missing field \"%s\" (map another key with --field %s=KEY)", o->keys[f],
                    import_field_names[f]);
    if (!json_is_integer(j))
        return FAIL("field \"%s\" is not an integer", o->keys[f]);
    *v = json_integer_value(j);
    return 0;
}

static int read_record(json_t *root, const trace_import_opts *o, trace_builder *b,
                       const char *name, long lineno, promoe_err *err)
{
    int64_t ids[TRACE_MAX_TOP_K];
    double wts[TRACE_MAX_TOP_K];
    trace_record r = {.iteration = -1, .line = lineno, .experts = ids};
    if (!json_is_object(root))
        return FAIL("expected a JSON object");
    if (get_int(root, o, FIELD_REQUEST, &r.request, name, lineno, err) < 0 ||
        get_int(root, o, FIELD_TOKEN, &r.token, name, lineno, err) < 0 ||
        get_int(root, o, FIELD_LAYER, &r.layer, name, lineno, err) < 0)
        return -1;
    json_t *ph = json_object_get(root, o->keys[FIELD_PHASE]);
    if (!ph)
        return FAIL("missing field \"%s\" (map another key with --field phase=KEY)",
                    o->keys[FIELD_PHASE]);
    r.phase = json_is_string(ph) ? import_parse_phase(json_string_value(ph))
              : json_is_integer(ph) && json_integer_value(ph) >= 0 && json_integer_value(ph) <= 1
                  ? (int)json_integer_value(ph) : -1;
    if (r.phase < 0)
        return FAIL("field \"%s\" must be \"prefill\" or \"decode\"", o->keys[FIELD_PHASE]);
    json_t *it = json_object_get(root, o->keys[FIELD_ITERATION]);
    if (it && !json_is_null(it)) {
        if (!json_is_integer(it) || json_integer_value(it) < 0)
            return FAIL("field \"%s\" is not a non-negative integer", o->keys[FIELD_ITERATION]);
        r.iteration = json_integer_value(it);
    }
    json_t *ex = json_object_get(root, o->keys[FIELD_EXPERTS]);
    size_t n = json_array_size(ex);
    if (!json_is_array(ex) || n == 0 || n > TRACE_MAX_TOP_K)
        return FAIL("field \"%s\" must be a list of 1 to %d expert ids", o->keys[FIELD_EXPERTS],
                    TRACE_MAX_TOP_K);
    for (size_t k = 0; k < n; k++) {
        json_t *v = json_array_get(ex, k);
        if (!json_is_integer(v))
            return FAIL("field \"%s\": entry %zu is not an integer", o->keys[FIELD_EXPERTS], k);
        ids[k] = json_integer_value(v);
    }
    r.num_experts = (int)n;
    json_t *wt = json_object_get(root, o->keys[FIELD_WEIGHTS]);
    if (wt && !json_is_null(wt)) {
        if (!json_is_array(wt) || json_array_size(wt) != n)
            return FAIL("field \"%s\" must be a list as long as \"%s\"", o->keys[FIELD_WEIGHTS],
                        o->keys[FIELD_EXPERTS]);
        for (size_t k = 0; k < n; k++) {
            json_t *v = json_array_get(wt, k);
            if (!json_is_number(v))
                return FAIL("field \"%s\": entry %zu is not a number", o->keys[FIELD_WEIGHTS], k);
            wts[k] = json_number_value(v);
        }
        r.weights = wts;
    }
    return trace_builder_add(b, &r, err);
}

struct jsonl_ctx {
    const char *name;
    const trace_import_opts *o;
    trace_builder *b;
    promoe_err *err;
};

static int on_record(json_t *root, long lineno, void *ctx)
{
    struct jsonl_ctx *c = ctx;
    return read_record(root, c->o, c->b, c->name, lineno, c->err);
}

static int read_jsonl(FILE *in, const char *name, const trace_import_opts *o, trace_builder *b,
                      promoe_err *err)
{
    struct jsonl_ctx c = {name, o, b, err};
    return import_each_json_line(in, name, on_record, &c, err);
}

const trace_importer import_jsonl = {
    "jsonl",
    "one JSON object per (token, layer): request, token, phase, layer, experts[, weights, "
    "iteration]; rename keys with --field NAME=KEY",
    read_jsonl,
};
