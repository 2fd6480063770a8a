/* cmd_trace_info.c - `promoe trace info`, and the summary it prints. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "traces/trace_stats.h"

static const char usage[] =
    "usage: promoe trace info [--json] TRACE.h5\n"
    "\n"
    "Summarises a trace: tokens, requests, iterations, layers/experts/top-k, the\n"
    "optional datasets present, and\n"
    "  popularity skew      per layer, Gini of expert selection counts (0 uniform)\n"
    "                       and entropy / ln E (1 uniform)\n"
    "  next-token reuse     share of a decode token's experts (per layer) that the\n"
    "                       request's previous token chose in that layer\n"
    "  cross-layer          share of layer l+1's experts among those with the most\n"
    "  predictability       co-occurrences with layer l's experts (in-sample)\n"
    "  popularity baseline  share of a layer's experts among its most frequent\n"
    "A missing record (a layer stored as -1: the importer did not find it) is left\n"
    "out of every figure: a reuse pair with either record missing is not counted,\n"
    "as predict eval does not score a missing target layer.\n"
    "Also validates the whole file: any malformed token is reported.\n"
    "\n"
    "  -j, --json             print one JSON object on one line\n"
    "  -h, --help             show this help\n";

static const struct option options[] = {
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void content_list(unsigned content, char *buf, size_t len)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        {TRACE_WEIGHTS, "routing/weights"}, {TRACE_LOGITS, "routing/logits"},
        {TRACE_HIDDEN, "hidden/input"}, {TRACE_ROUTER_WEIGHT, "model/router_weight"},
    };
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (content & names[i].bit)
            snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "",
                     names[i].name);
    if (!buf[0])
        snprintf(buf, len, "none (expert ids only)");
}

static double mean(const double *v, int n)
{
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) {
            s += v[i];
            k++;
        }
    return k ? s / k : NAN;
}

static void print_info(FILE *out, const char *path, const trace_stats *s)
{
    const trace_meta *m = &s->meta;
    int L = m->num_layers;
    char content[160];
    content_list(m->content, content, sizeof content);
    fprintf(out, "trace        %s\n", path);
    fprintf(out, "model        %s (%d layers, %d experts, top-%d)\n",
            m->model[0] ? m->model : "unknown", L, m->num_experts, m->top_k);
    fprintf(out, "source       %s\n", m->source);
    fprintf(out, "tokens       %lld (%lld prefill, %lld decode)\n", (long long)m->num_tokens,
            (long long)s->prefill_tokens, (long long)s->decode_tokens);
    fprintf(out, "requests     %lld\n", (long long)m->num_requests);
    fprintf(out, "iterations   %lld\n", (long long)s->iterations);
    fprintf(out, "optional     %s", content);
    if (m->hidden_dim)
        fprintf(out, " (hidden dim %d)", m->hidden_dim);
    if (m->hidden_layer_stride > 1)
        fprintf(out, " (hidden states of one layer in %d)", m->hidden_layer_stride);
    fputc('\n', out);
    if (s->missing)
        fprintf(out, "missing      %lld (token, layer, rank) entries are -1\n",
                (long long)s->missing);
    fprintf(out, "\nnext-token reuse            %.4f  (over %lld decode tokens)\n", s->reuse,
            (long long)s->reuse_tokens);
    fprintf(out, "cross-layer predictability  %.4f  (in-sample)\n", s->cross_layer);
    fprintf(out, "popularity baseline         %.4f  (in-sample)\n", s->popularity);
    fprintf(out, "popularity skew (mean)      Gini %.4f, entropy %.4f\n", mean(s->gini, L),
            mean(s->entropy, L));
    fprintf(out, "\nlayer   Gini  entropy   reuse  next-layer\n");
    for (int l = 0; l < L; l++) {
        fprintf(out, "%5d %6.3f %8.3f %7.3f", l, s->gini[l], s->entropy[l], s->reuse_layer[l]);
        if (l + 1 < L)
            fprintf(out, " %11.3f", s->cross_layer_layer[l]);
        fputc('\n', out);
    }
}

/* JSON has no NaN: figures that do not exist are null. */
static json_t *number(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *array(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, number(v[i]));
    return a;
}

static int print_info_json(FILE *out, const char *path, const trace_stats *s)
{
    const trace_meta *m = &s->meta;
    int L = m->num_layers;
    json_t *opt = json_array();
    if (m->content & TRACE_WEIGHTS) json_array_append_new(opt, json_string("routing/weights"));
    if (m->content & TRACE_LOGITS) json_array_append_new(opt, json_string("routing/logits"));
    if (m->content & TRACE_HIDDEN) json_array_append_new(opt, json_string("hidden/input"));
    if (m->content & TRACE_ROUTER_WEIGHT)
        json_array_append_new(opt, json_string("model/router_weight"));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:i, s:i, s:o, s:I, s:o, s:I, s:o, "
        "s:o, s:o, s:o, s:o, s:o}",
        "trace", path, "model", m->model, "source", m->source,
        "tokens", (json_int_t)m->num_tokens, "prefill_tokens", (json_int_t)s->prefill_tokens,
        "decode_tokens", (json_int_t)s->decode_tokens, "requests", (json_int_t)m->num_requests,
        "iterations", (json_int_t)s->iterations, "num_layers", L, "num_experts", m->num_experts,
        "top_k", m->top_k, "hidden_dim", m->hidden_dim, "optional", opt,
        "missing", (json_int_t)s->missing, "next_token_reuse", number(s->reuse),
        "reuse_tokens", (json_int_t)s->reuse_tokens,
        "cross_layer_predictability", number(s->cross_layer),
        "popularity_baseline", number(s->popularity), "gini", array(s->gini, L),
        "entropy", array(s->entropy, L), "reuse_per_layer", array(s->reuse_layer, L),
        "cross_layer_per_layer", array(s->cross_layer_layer, L > 1 ? L - 1 : 0));
    if (!o)
        return -1;
    if (m->hidden_layer_stride > 1)
        json_object_set_new(o, "hidden_layer_stride", json_integer(m->hidden_layer_stride));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (!text)
        return -1;
    fprintf(out, "%s\n", text);
    free(text);
    return 0;
}

static void show_progress(int64_t done, int64_t total)
{
    cli_progress("analysing tokens (two passes)", done, total);
}

int cmd_trace_info(int argc, char **argv)
{
    const char *cmd = "trace info";
    int json = 0, c;
    while ((c = cli_getopt(argc, argv, "jh", options, cmd)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(cmd, optind < argc ? "give exactly one trace" : "no trace given");
    const char *path = argv[optind];
    promoe_err err;
    trace_stats s;
    int failed = trace_stats_compute(path, &s, show_progress, &err) < 0;
    cli_progress_done();
    if (failed)
        return cli_fail(&err);
    int rc = CLI_OK;
    if (json) {
        if (print_info_json(stdout, path, &s) < 0) {
            promoe_err_set(&err, "cannot format the summary as JSON");
            rc = cli_fail(&err);
        }
    } else {
        print_info(stdout, path, &s);
    }
    trace_stats_free(&s);
    return rc;
}
