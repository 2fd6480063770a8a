/* import_hf_router_logits.c - the router logits a transformers model
 * returns with output_router_logits=True, saved by the user one tensor per
 * MoE layer (tokens x experts) in a safetensors file or a numpy .npz.
 *
 * A tensor's layer is the last whole number in its name ("layer.3",
 * "arr_3", "model.layers.3.mlp.gate"); layers are stored in that order.
 * The rows are requests one after another, each its prompt then its
 * output; the split comes from --split P:O,... or from the file (the
 * arrays, or safetensors __metadata__ strings, prompt_lens and
 * output_lens).  A request's rows are either what generation computed,
 * P + O - 1 (the last output token is never fed back), or a forward pass
 * over the whole text, P + O, whose last row is then dropped; the total
 * says which.  Experts and gate weights follow from each row by the
 * model's own rule (models/route.h).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/npz.h"
#include "common/safetensors.h"
#include "models/route.h"
#include "traces/trace_import.h"

typedef struct logits_layer {
    long number;      /* the whole number in the tensor's name */
    const char *name;
    int64_t rows, experts;
    float *values;    /* rows x experts, owned */
} logits_layer;

typedef struct logits_source {
    logits_layer *layers;
    int count;
    int64_t *prompt, *output; /* the split, when the file gives one */
    int requests;
    st_file st;
    npz_file npz;
} logits_source;

static void source_free(logits_source *s)
{
    for (int i = 0; i < s->count; i++)
        free(s->layers[i].values);
    free(s->layers);
    free(s->prompt);
    free(s->output);
    st_close(&s->st);
    npz_free(&s->npz);
}

/* The last whole number in NAME, or -1. */
static long layer_number(const char *name)
{
    long n = -1;
    for (const char *p = name; *p;) {
        if (isdigit((unsigned char)*p)) {
            char *end;
            n = strtol(p, &end, 10);
            p = end;
        } else {
            p++;
        }
    }
    return n;
}

static int is_split_name(const char *name)
{
    return strcmp(name, "prompt_lens") == 0 || strcmp(name, "output_lens") == 0;
}

/* Takes one tensor (rank 2, or rank 3 of batch 1) as a layer. */
static int add_layer(logits_source *s, const char *file, const char *name, int rank,
                     const int64_t *shape, promoe_err *err)
{
    long number = layer_number(name);
    if (number < 0)
        return promoe_err_set(err, "%s: tensor %s has no layer number in its name (name each "
                              "layer's logits e.g. layer.0, layer.1, ...)", file, name);
    if (!(rank == 2 || (rank == 3 && shape[0] == 1)))
        return promoe_err_set(err, "%s: tensor %s is not tokens x experts (rank %d)", file, name,
                              rank);
    logits_layer *l = &s->layers[s->count++];
    l->number = number;
    l->name = name;
    l->rows = shape[rank - 2];
    l->experts = shape[rank - 1];
    l->values = malloc((size_t)(l->rows * l->experts + 1) * sizeof(float));
    return l->values ? 0 : promoe_err_set(err, "out of memory");
}

/* Parses "7,4" into a list of non-negative counts. */
static int parse_counts(const char *text, int64_t **out, int *n, const char *what,
                        promoe_err *err)
{
    *n = 0;
    *out = malloc((strlen(text) / 2 + 2) * sizeof **out);
    if (!*out)
        return promoe_err_set(err, "out of memory");
    for (const char *p = text; *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || (*end && *end != ','))
            return promoe_err_set(err, "%s: '%s' is not a list of whole numbers", what, text);
        (*out)[(*n)++] = v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int load_safetensors(logits_source *s, const char *path, promoe_err *err)
{
    if (st_open(path, &s->st, err) < 0)
        return -1;
    s->layers = calloc((size_t)s->st.count + 1, sizeof *s->layers);
    if (!s->layers)
        return promoe_err_set(err, "out of memory");
    for (int i = 0; i < s->st.count; i++) {
        const st_tensor *t = &s->st.tensors[i];
        if ((int)t->dtype < 0)
            return promoe_err_set(err, "%s: tensor %s is not F32, F16 or BF16", path, t->name);
        if (add_layer(s, path, t->name, t->rank, t->shape, err) < 0)
            return -1;
        st_tensor_floats(t, s->layers[s->count - 1].values);
    }
    const char *p = st_metadata(&s->st, "prompt_lens"), *o = st_metadata(&s->st, "output_lens");
    int np = 0, no = 0;
    if (p && o && (parse_counts(p, &s->prompt, &np, "prompt_lens", err) < 0 ||
                   parse_counts(o, &s->output, &no, "output_lens", err) < 0))
        return -1;
    if (np != no)
        return promoe_err_set(err, "%s: prompt_lens has %d entries, output_lens %d", path, np, no);
    s->requests = np;
    return 0;
}

static int load_npz(logits_source *s, const char *path, promoe_err *err)
{
    if (npz_read(path, &s->npz, err) < 0)
        return -1;
    s->layers = calloc((size_t)s->npz.count + 1, sizeof *s->layers);
    if (!s->layers)
        return promoe_err_set(err, "out of memory");
    for (int i = 0; i < s->npz.count; i++) {
        const npz_array *a = &s->npz.arrays[i];
        if (is_split_name(a->name))
            continue;
        if (a->kind != 'f')
            return promoe_err_set(err, "%s: array %s holds integers, not logits", path, a->name);
        if (add_layer(s, path, a->name, a->rank, a->shape, err) < 0)
            return -1;
        npz_array_floats(a, s->layers[s->count - 1].values);
    }
    const npz_array *p = npz_find(&s->npz, "prompt_lens"), *o = npz_find(&s->npz, "output_lens");
    if (!p || !o)
        return 0;
    if (p->rank != 1 || o->rank != 1 || p->count != o->count)
        return promoe_err_set(err, "%s: prompt_lens and output_lens must be lists of one length",
                              path);
    s->requests = (int)p->count;
    s->prompt = malloc((p->count + 1) * sizeof *s->prompt);
    s->output = malloc((p->count + 1) * sizeof *s->output);
    if (!s->prompt || !s->output)
        return promoe_err_set(err, "out of memory");
    return npz_array_ints(p, s->prompt, err) < 0 || npz_array_ints(o, s->output, err) < 0 ? -1 : 0;
}

static int by_number(const void *a, const void *b)
{
    long x = ((const logits_layer *)a)->number, y = ((const logits_layer *)b)->number;
    return (x > y) - (x < y);
}

/* Parses --split "P:O,P:O" into s's split, replacing the file's. */
static int parse_split(const char *split, logits_source *s, promoe_err *err)
{
    free(s->prompt);
    free(s->output);
    s->requests = 0;
    /* each request takes at least 4 characters ("1:1,"): strlen bounds them */
    s->prompt = calloc(strlen(split) + 1, sizeof *s->prompt);
    s->output = calloc(strlen(split) + 1, sizeof *s->output);
    if (!s->prompt || !s->output)
        return promoe_err_set(err, "out of memory");
    for (const char *p = split; *p;) {
        char *end;
        long long pl = strtoll(p, &end, 10), ol = -1;
        if (end != p && *end == ':') {
            const char *q = end + 1;
            ol = strtoll(q, &end, 10);
            if (end == q)
                ol = -1;
        }
        if (pl < 1 || ol < 1 || (*end && *end != ','))
            return promoe_err_set(err, "--split '%s': expected PROMPT:OUTPUT[,...] of "
                                  "positive lengths, e.g. 12:64 or 12:64,30:64", split);
        s->prompt[s->requests] = pl;
        s->output[s->requests++] = ol;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* Layers in order, one shape; the split's rows against the tensors'. */
static int check_source(logits_source *s, const char *path, const trace_import_opts *o,
                        int *whole_text, promoe_err *err)
{
    if (s->count == 0)
        return promoe_err_set(err, "%s: no router logits in the file", path);
    qsort(s->layers, (size_t)s->count, sizeof *s->layers, by_number);
    for (int i = 0; i < s->count; i++) {
        const logits_layer *l = &s->layers[i], *first = &s->layers[0];
        if (i && l->number == s->layers[i - 1].number)
            return promoe_err_set(err, "%s: tensors %s and %s both name layer %ld", path,
                                  s->layers[i - 1].name, l->name, l->number);
        if (l->rows != first->rows || l->experts != first->experts)
            return promoe_err_set(err, "%s: tensor %s is %lld x %lld, tensor %s %lld x %lld "
                                  "(every layer's logits must cover the same tokens)", path,
                                  l->name, (long long)l->rows, (long long)l->experts,
                                  first->name, (long long)first->rows,
                                  (long long)first->experts);
    }
    if (s->layers[0].experts != o->num_experts)
        return promoe_err_set(err, "%s: the logits score %lld experts but the model has %d", path,
                              (long long)s->layers[0].experts, o->num_experts);
    if (o->split && parse_split(o->split, s, err) < 0)
        return -1;
    if (s->requests == 0)
        return promoe_err_set(err, "%s: where do prompts end? give --split PROMPT:OUTPUT[,...] "
                              "or store prompt_lens and output_lens in the file", path);
    int64_t generated = 0, whole = 0;
    for (int r = 0; r < s->requests; r++) {
        if (s->prompt[r] < 1 || s->output[r] < 1)
            return promoe_err_set(err, "%s: request %d has prompt length %lld and output "
                                  "length %lld (both must be at least 1)", path, r,
                                  (long long)s->prompt[r], (long long)s->output[r]);
        generated += s->prompt[r] + s->output[r] - 1;
        whole += s->prompt[r] + s->output[r];
    }
    *whole_text = s->layers[0].rows == whole;
    if (!*whole_text && s->layers[0].rows != generated)
        return promoe_err_set(err, "%s: the logits hold %lld tokens, but the split needs %lld "
                              "(as generated: prompt + output - 1 a request) or %lld (a forward "
                              "pass over prompt + output)", path, (long long)s->layers[0].rows,
                              (long long)generated, (long long)whole);
    return 0;
}

static int read_hf_logits(FILE *in, const char *path, const trace_import_opts *o,
                          trace_builder *b, promoe_err *err)
{
    unsigned char magic[4] = {0};
    size_t got = fread(magic, 1, sizeof magic, in);
    logits_source s = {0};
    int whole_text = 0, rc = -1;
    int top_k = o->top_k ? o->top_k : o->model_top_k;
    if (!top_k || o->norm_topk_prob < 0) {
        return promoe_err_set(err, "%s: the routing rule is unknown: name the model's preset "
                              "with -m, or give --top-k K and --norm-topk-prob 0|1", path);
    }
    int zip = got == 4 && memcmp(magic, "PK\x03\x04", 4) == 0;
    if ((zip ? load_npz(&s, path, err) : load_safetensors(&s, path, err)) < 0 ||
        check_source(&s, path, o, &whole_text, err) < 0)
        goto out;
    int E = o->num_experts;
    double *prob = malloc((size_t)E * sizeof *prob);
    int *pick = malloc((size_t)E * sizeof *pick), *ex = malloc((size_t)top_k * sizeof *ex);
    float *w = malloc((size_t)top_k * sizeof *w);
    int64_t *ids = malloc((size_t)top_k * sizeof *ids);
    double *wd = malloc((size_t)top_k * sizeof *wd);
    if (!prob || !pick || !ex || !w || !ids || !wd) {
        promoe_err_set(err, "out of memory");
    } else {
        rc = 0;
        int64_t row = 0;
        for (int r = 0; r < s.requests && rc == 0; r++) {
            int64_t tokens = s.prompt[r] + s.output[r] - 1;
            for (int64_t t = 0; t < tokens && rc == 0; t++, row++) {
                for (int l = 0; l < s.count && rc == 0; l++) {
                    const float *logits = s.layers[l].values + row * E;
                    model_route(logits, E, top_k, o->norm_topk_prob, prob, pick, ex, w);
                    for (int k = 0; k < top_k; k++) {
                        ids[k] = ex[k];
                        wd[k] = w[k];
                    }
                    trace_record rec = {.request = r, .token = t,
                                        .phase = t < s.prompt[r] ? TRACE_PREFILL : TRACE_DECODE,
                                        .layer = l, .iteration = -1, .num_experts = top_k,
                                        .experts = ids, .weights = wd, .line = row + 1};
                    rc = trace_builder_add(b, &rec, err);
                }
            }
            row += whole_text; /* the row generation never computes */
        }
    }
    free(prob);
    free(pick);
    free(ex);
    free(w);
    free(ids);
    free(wd);
out:
    source_free(&s);
    return rc;
}

const trace_importer import_hf_router_logits = {
    "hf-router-logits",
    "transformers' router logits, one tensor a layer (tokens x experts), "
    "as safetensors or .npz",
    read_hf_logits,
};
