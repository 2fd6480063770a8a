/* import_warp_jsonl.c - the format of sqliteai/warp's OLMoE trace: one line
 * per decode step of a single request, {"tok": n, "layers": [[ids], ...]}.
 * Every line is a decode token of request 0 at position tok. */
#include <jansson.h>
#include <stdlib.h>

#include "traces/trace_import.h"

#define FAIL(...) (promoe_err_set(err, __VA_ARGS__), promoe_err_prefix(err, "%s:%ld", name, lineno))

static int read_warp(FILE *in, const char *name, const trace_import_opts *o, trace_builder *b,
                     promoe_err *err)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int64_t ids[TRACE_MAX_TOP_K];
    int got, rc = 0;
    while (rc == 0 && (got = import_next_line(in, &line, &cap, &lineno)) > 0) {
        json_error_t jerr;
        json_t *root = json_loads(line, 0, &jerr);
        json_t *tok = root ? json_object_get(root, "tok") : NULL;
        json_t *layers = root ? json_object_get(root, "layers") : NULL;
        if (!root)
            rc = FAIL("invalid JSON: %s (column %d)", jerr.text, jerr.column);
        else if (!json_is_integer(tok))
            rc = FAIL("\"tok\" is missing or not an integer");
        else if (!json_is_array(layers) || json_array_size(layers) == 0)
            rc = FAIL("\"layers\" is missing or not a non-empty array");
        for (size_t l = 0; rc == 0 && l < json_array_size(layers); l++) {
            json_t *list = json_array_get(layers, l);
            size_t n = json_array_size(list);
            if (!json_is_array(list) || n == 0 || n > TRACE_MAX_TOP_K) {
                rc = FAIL("layer %zu: expected a list of 1 to %d expert ids", l, TRACE_MAX_TOP_K);
                break;
            }
            for (size_t k = 0; k < n; k++) {
                json_t *v = json_array_get(list, k);
                if (!json_is_integer(v)) {
                    rc = FAIL("layer %zu: expert id %zu is not an integer", l, k);
                    break;
                }
                ids[k] = json_integer_value(v);
            }
            if (rc)
                break;
            trace_record r = {.request = 0, .token = json_integer_value(tok),
                              .phase = TRACE_DECODE, .layer = (int64_t)l, .iteration = -1,
                              .num_experts = (int)n, .experts = ids, .line = lineno};
            rc = trace_builder_add(b, &r, err);
        }
        json_decref(root);
    }
    free(line);
    if (rc == 0 && got < 0)
        rc = promoe_err_set(err, "%s: read error", name);
    return rc;
}

const trace_importer import_warp_jsonl = {
    "warp-jsonl",
    "one decode step a line: {\"tok\": n, \"layers\": [[ids], ...]} (sqliteai/warp)",
    read_warp,
};
