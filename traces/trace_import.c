#include "traces/trace_import.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/registry.h"

extern const trace_importer import_warp_jsonl, import_jsonl, import_csv, import_hf_router_logits;

/* The registry: one line per format. */
const trace_importer *const trace_importers[] = {
    &import_warp_jsonl,
    &import_jsonl,
    &import_csv,
    &import_hf_router_logits,
    NULL,
};

const char *const import_field_names[IMPORT_NUM_FIELDS] = {
    [FIELD_REQUEST] = "request", [FIELD_TOKEN] = "token",     [FIELD_PHASE] = "phase",
    [FIELD_LAYER] = "layer",     [FIELD_EXPERTS] = "experts", [FIELD_WEIGHTS] = "weights",
    [FIELD_ITERATION] = "iteration",
};

void trace_import_defaults(trace_import_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dataset = "imported";
    o->norm_topk_prob = -1;
    for (int f = 0; f < IMPORT_NUM_FIELDS; f++)
        o->keys[f] = import_field_names[f];
}

int trace_import_map_field(trace_import_opts *o, const char *spec, promoe_err *err)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return promoe_err_set(err, "--field '%s': expected NAME=KEY, e.g. token=token_idx", spec);
    for (int f = 0; f < IMPORT_NUM_FIELDS; f++) {
        const char *n = import_field_names[f];
        if (strlen(n) == (size_t)(eq - spec) && strncmp(n, spec, (size_t)(eq - spec)) == 0) {
            o->keys[f] = eq + 1;
            return 0;
        }
    }
    return promoe_err_set(err, "--field '%s': unknown field (fields: request, token, phase, "
                          "layer, experts, weights, iteration)", spec);
}

const trace_importer *trace_importer_find(const char *name)
{
    return registry_find((const void *const *)trace_importers, name);
}

const char *trace_importer_names(void)
{
    static char buf[256];
    if (!buf[0])
        registry_names((const void *const *)trace_importers, buf, sizeof buf);
    return buf;
}

/* The data against the model named by -m: its experts bound the ids as
 * they are read; its layers and top-k must be what the records hold. */
static int check_model(const trace_builder *b, const char *in_path, const trace_import_opts *o,
                       promoe_err *err)
{
    trace_shape seen = trace_builder_seen(b);
    if (o->model_layers && seen.num_layers != o->model_layers)
        return promoe_err_set(err, "%s: the data has %d MoE layers but model %s has %d "
                              "(is -m right?)", in_path, seen.num_layers, o->model,
                              o->model_layers);
    if (o->model_top_k && seen.top_k != o->model_top_k)
        return promoe_err_set(err, "%s: the data chooses up to %d experts a layer but model %s "
                              "has top-k %d (is -m right?)", in_path, seen.top_k, o->model,
                              o->model_top_k);
    return 0;
}

int trace_import_file(const char *format, const trace_import_opts *o, const char *in_path,
                      const char *out_path, trace_build_report *rep, promoe_err *err)
{
    const trace_importer *imp = trace_importer_find(format);
    if (!imp)
        return promoe_err_set(err, "unknown import format '%s' (formats: %s)", format,
                              trace_importer_names());
    if (o->num_experts < 1)
        return promoe_err_set(err, "the number of experts is required (--experts E): "
                              "expert ids alone do not reveal it");
    FILE *in = fopen(in_path, "r");
    if (!in)
        return promoe_err_set(err, "%s: cannot open: %s", in_path, strerror(errno));
    trace_builder *b = trace_builder_create(in_path, o->num_experts, o->top_k, o->num_layers, err);
    int rc = -1;
    if (b && imp->read(in, in_path, o, b, err) == 0 && check_model(b, in_path, o, err) == 0) {
        const char *base = strrchr(in_path, '/');
        char source[TRACE_NAME_MAX];
        snprintf(source, sizeof source, "promoe trace import --format %s %s", format,
                 base ? base + 1 : in_path);
        rc = trace_builder_write(b, out_path, o->model, source, o->dataset, o->compression, rep,
                                 err);
    }
    trace_builder_free(b);
    fclose(in);
    return rc;
}

int import_next_line(FILE *in, char **line, size_t *cap, long *lineno)
{
    for (;;) {
        errno = 0;
        ssize_t n = getline(line, cap, in);
        if (n < 0)
            return errno ? -1 : 0;
        (*lineno)++;
        while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
            (*line)[--n] = '\0';
        const char *p = *line;
        while (*p && isspace((unsigned char)*p))
            p++;
        if (*p)
            return 1;
    }
}

int import_each_json_line(FILE *in, const char *name,
                          int (*on_object)(json_t *root, long lineno, void *ctx), void *ctx,
                          promoe_err *err)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int got, rc = 0;
    while (rc == 0 && (got = import_next_line(in, &line, &cap, &lineno)) > 0) {
        json_error_t jerr;
        json_t *root = json_loads(line, 0, &jerr);
        if (root)
            rc = on_object(root, lineno, ctx);
        else
            rc = promoe_err_set(err, "%s:%ld: invalid JSON: %s (column %d)", name, lineno,
                                jerr.text, jerr.column);
        json_decref(root);
    }
    free(line);
    if (rc == 0 && got < 0)
        rc = promoe_err_set(err, "%s: read error", name);
    return rc;
}

int import_parse_phase(const char *s)
{
    if (strcmp(s, "prefill") == 0 || strcmp(s, "0") == 0)
        return TRACE_PREFILL;
    if (strcmp(s, "decode") == 0 || strcmp(s, "1") == 0)
        return TRACE_DECODE;
    return -1;
}
