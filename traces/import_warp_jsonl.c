/* import_warp_jsonl.c - the format of sqliteai/warp's OLMoE trace: one line
 * per decode step of a single request, {"tok": n, "layers": [[ids], ...]}.
 * Every line is a decode token of request 0 at position tok.  A layer
 * written as [] is a missing record, as is a layer a short line leaves
 * out: both are stored as missing (-1) and counted in the import's note. */
#include <jansson.h>

#include "traces/trace_import.h"

#define FAIL(...) (promoe_err_set(err, __VA_ARGS__), promoe_err_prefix(err, "%s:%ld", name, lineno))

struct warp_ctx {
    const char *name;
    trace_builder *b;
    promoe_err *err;
};

static int read_step(json_t *root, long lineno, void *ctx)
{
    struct warp_ctx *c = ctx;
    const char *name = c->name;
    promoe_err *err = c->err;
    int64_t ids[TRACE_MAX_TOP_K];
    json_t *tok = json_object_get(root, "tok");
    json_t *layers = json_object_get(root, "layers");
    if (!json_is_integer(tok))
        return FAIL("\"tok\" is missing or not an integer");
    if (!json_is_array(layers) || json_array_size(layers) == 0)
        return FAIL("\"layers\" is missing or not a non-empty array");
    for (size_t l = 0; l < json_array_size(layers); l++) {
        json_t *list = json_array_get(layers, l);
        size_t n = json_array_size(list);
        if (!json_is_array(list) || n > TRACE_MAX_TOP_K)
            return FAIL("layer %zu: expected a list of up to %d expert ids", l, TRACE_MAX_TOP_K);
        if (n == 0)
            continue; /* no record for this layer */
        for (size_t k = 0; k < n; k++) {
            json_t *v = json_array_get(list, k);
            if (!json_is_integer(v))
                return FAIL("layer %zu: expert id %zu is not an integer", l, k);
            ids[k] = json_integer_value(v);
        }
        trace_record r = {.request = 0, .token = json_integer_value(tok), .phase = TRACE_DECODE,
                          .layer = (int64_t)l, .iteration = -1, .num_experts = (int)n,
                          .experts = ids, .line = lineno};
        if (trace_builder_add(c->b, &r, err) < 0)
            return -1;
    }
    return 0;
}

static int read_warp(FILE *in, const char *name, const trace_import_opts *o, trace_builder *b,
                     promoe_err *err)
{
    struct warp_ctx c = {name, b, err};
    return import_each_json_line(in, name, read_step, &c, err);
}

const trace_importer import_warp_jsonl = {
    "warp-jsonl",
    "one decode step a line: {\"tok\": n, \"layers\": [[ids], ...]} (sqliteai/warp)",
    read_warp,
};
