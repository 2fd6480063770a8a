#include "traces/trace_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"

typedef struct stored_record {
    int64_t request, token, iteration;
    int32_t layer;
    uint8_t phase;
    uint8_t has_weights;
    uint16_t count;
    size_t offset;     /* into the expert and weight pools */
    long line;
} stored_record;

struct trace_builder {
    char *source;
    int num_experts, top_k, num_layers;
    stored_record *recs;
    size_t n, cap;
    int16_t *ids;
    float *wts;
    size_t pool_n, ids_cap, wts_cap;
    int any_iteration, any_without_iteration;
    int any_weights, any_without_weights;
    int max_count;
    int32_t max_layer;
    int max_expert;
};

trace_builder *trace_builder_create(const char *source, int num_experts, int top_k,
                                    int num_layers, promoe_err *err)
{
    if (num_experts < 1 || num_experts > TRACE_MAX_EXPERTS) {
        promoe_err_set(err, "number of experts %d must be in [1, %d]", num_experts,
                       TRACE_MAX_EXPERTS);
        return NULL;
    }
    trace_builder *b = calloc(1, sizeof *b);
    if (!b || !(b->source = strdup(source))) {
        free(b);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    b->num_experts = num_experts;
    b->top_k = top_k;
    b->num_layers = num_layers;
    b->max_layer = -1;
    b->max_expert = -1;
    return b;
}

void trace_builder_free(trace_builder *b)
{
    if (!b)
        return;
    free(b->source);
    free(b->recs);
    free(b->ids);
    free(b->wts);
    free(b);
}

/* Room for `need` elements in *p (grow_array, from 1024). */
static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    void *q = grow_array(*p, cap, need, elem, 1024);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

#define FAIL_AT(line, ...) \
    (promoe_err_set(err, __VA_ARGS__), promoe_err_prefix(err, "%s:%ld", b->source, (long)(line)))

int trace_builder_add(trace_builder *b, const trace_record *r, promoe_err *err)
{
    if (r->request < INT32_MIN || r->request > INT32_MAX)
        return FAIL_AT(r->line, "request id %lld does not fit in 32 bits", (long long)r->request);
    if (r->token < 0 || r->token > INT32_MAX)
        return FAIL_AT(r->line, "token %lld is not a position in [0, 2^31)", (long long)r->token);
    if (r->layer < 0 || r->layer >= TRACE_MAX_LAYERS ||
        (b->num_layers && r->layer >= b->num_layers))
        return FAIL_AT(r->line, "layer %lld out of range [0, %d)", (long long)r->layer,
                       b->num_layers ? b->num_layers : TRACE_MAX_LAYERS);
    if (r->iteration > INT32_MAX)
        return FAIL_AT(r->line, "iteration %lld does not fit in 32 bits", (long long)r->iteration);
    if (r->num_experts < 1 || r->num_experts > TRACE_MAX_TOP_K ||
        (b->top_k && r->num_experts > b->top_k))
        return FAIL_AT(r->line, "%d experts in one record (expected 1 to %d)", r->num_experts,
                       b->top_k ? b->top_k : TRACE_MAX_TOP_K);
    if (r->num_experts > b->num_experts)
        return FAIL_AT(r->line, "%d experts chosen but the model has only %d (check --experts or -m)",
                       r->num_experts, b->num_experts);
    for (int k = 0; k < r->num_experts; k++) {
        if (r->experts[k] < 0 || r->experts[k] >= b->num_experts)
            return FAIL_AT(r->line, "expert id %lld out of range [0, %d) (check --experts or -m)",
                           (long long)r->experts[k], b->num_experts);
        for (int j = 0; j < k; j++)
            if (r->experts[j] == r->experts[k])
                return FAIL_AT(r->line, "expert %lld listed twice", (long long)r->experts[k]);
        if (r->experts[k] > b->max_expert)
            b->max_expert = (int)r->experts[k];
    }
    if (grow((void **)&b->recs, &b->cap, b->n + 1, sizeof *b->recs) < 0)
        return promoe_err_set(err, "%s: out of memory", b->source);
    size_t need = b->pool_n + (size_t)r->num_experts;
    if (grow((void **)&b->ids, &b->ids_cap, need, sizeof *b->ids) < 0 ||
        grow((void **)&b->wts, &b->wts_cap, need, sizeof *b->wts) < 0)
        return promoe_err_set(err, "%s: out of memory", b->source);
    stored_record *s = &b->recs[b->n++];
    *s = (stored_record){
        .request = r->request, .token = r->token, .iteration = r->iteration,
        .layer = (int32_t)r->layer, .phase = (uint8_t)r->phase,
        .has_weights = r->weights != NULL, .count = (uint16_t)r->num_experts,
        .offset = b->pool_n, .line = r->line,
    };
    for (int k = 0; k < r->num_experts; k++) {
        b->ids[b->pool_n + (size_t)k] = (int16_t)r->experts[k];
        b->wts[b->pool_n + (size_t)k] = r->weights ? (float)r->weights[k] : 0.0f;
    }
    b->pool_n += (size_t)r->num_experts;
    if (r->iteration >= 0)
        b->any_iteration = 1;
    else
        b->any_without_iteration = 1;
    if (r->weights)
        b->any_weights = 1;
    else
        b->any_without_weights = 1;
    if (b->any_iteration && b->any_without_iteration)
        return FAIL_AT(r->line, "some records give an iteration and some do not");
    if (b->any_weights && b->any_without_weights)
        return FAIL_AT(r->line, "some records give gate weights and some do not");
    if (r->num_experts > b->max_count)
        b->max_count = r->num_experts;
    if (r->layer > b->max_layer)
        b->max_layer = (int32_t)r->layer;
    return 0;
}

static int cmp_records(const void *pa, const void *pb)
{
    const stored_record *a = pa, *b = pb;
#define CMP(f) if (a->f != b->f) return a->f < b->f ? -1 : 1
    CMP(iteration);
    CMP(request);
    CMP(token);
    CMP(layer);
    CMP(line);
#undef CMP
    return 0;
}

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

/* Numbers the iterations when the source gave none: per request (in id
 * order) one for all prefill tokens, then one per decode token. */
static void assign_iterations(trace_builder *b)
{
    /* Sorted by (request, token, layer) here since iteration is -1 for all. */
    int64_t next = -1, last_req = INT64_MIN, last_tok = INT64_MIN;
    int last_prefill = 0;
    for (size_t i = 0; i < b->n; i++) {
        stored_record *r = &b->recs[i];
        int new_token = r->request != last_req || r->token != last_tok;
        if (new_token) {
            int same_prefill = r->request == last_req && last_prefill && r->phase == TRACE_PREFILL;
            if (!same_prefill)
                next++;
            last_req = r->request;
            last_tok = r->token;
            last_prefill = r->phase == TRACE_PREFILL;
        }
        r->iteration = next;
    }
}

trace_shape trace_builder_seen(const trace_builder *b)
{
    return (trace_shape){.num_layers = b->max_layer + 1, .top_k = b->max_count,
                         .max_expert = b->max_expert};
}

int trace_builder_write(trace_builder *b, const char *path, const char *model,
                        const char *source, const char *dataset, int compression,
                        trace_build_report *rep, promoe_err *err)
{
    if (b->n == 0)
        return promoe_err_set(err, "%s: no records found", b->source);
    int L = b->num_layers ? b->num_layers : b->max_layer + 1;
    int K = b->top_k ? b->top_k : b->max_count;
    if (K > b->num_experts)
        return promoe_err_set(err, "%s: top-k %d exceeds the %d experts", b->source, K, b->num_experts);
    qsort(b->recs, b->n, sizeof *b->recs, cmp_records);
    if (!b->any_iteration) {
        assign_iterations(b);
        qsort(b->recs, b->n, sizeof *b->recs, cmp_records);
    }
    /* Duplicates and phase disagreements sit next to each other now. */
    size_t num_tokens = 0;
    for (size_t i = 0; i < b->n; i++) {
        const stored_record *r = &b->recs[i], *p = i ? &b->recs[i - 1] : NULL;
        int same_token = p && p->request == r->request && p->token == r->token;
        if (same_token && p->iteration != r->iteration)
            return FAIL_AT(r->line, "request %lld token %lld appears in iterations %lld and %lld",
                           (long long)r->request, (long long)r->token, (long long)p->iteration,
                           (long long)r->iteration);
        if (same_token && p->layer == r->layer)
            return FAIL_AT(r->line, "duplicate record for request %lld token %lld layer %d "
                           "(first at line %ld)", (long long)r->request, (long long)r->token,
                           r->layer, p->line);
        if (same_token && p->phase != r->phase)
            return FAIL_AT(r->line, "request %lld token %lld is prefill in one record and "
                           "decode in another", (long long)r->request, (long long)r->token);
        num_tokens += !same_token;
    }

    trace_meta meta = {.num_layers = L, .num_experts = b->num_experts, .top_k = K,
                       .content = b->any_weights ? TRACE_WEIGHTS : 0,
                       .compression = compression};
    snprintf(meta.model, sizeof meta.model, "%s", model ? model : "unknown");
    snprintf(meta.source, sizeof meta.source, "%s", source);
    size_t LK = (size_t)L * (size_t)K;
    int64_t *req_ids = malloc(num_tokens * sizeof *req_ids);
    int32_t *request = malloc(num_tokens * sizeof *request);
    int32_t *position = malloc(num_tokens * sizeof *position);
    uint8_t *phase = malloc(num_tokens);
    int16_t *experts = malloc(num_tokens * LK * sizeof *experts);
    float *weights = calloc(num_tokens * LK, sizeof *weights);
    int32_t *iter = malloc(num_tokens * sizeof *iter);
    trace_writer *w = NULL;
    int rc = -1;
    if (!req_ids || !request || !position || !phase || !experts || !weights || !iter) {
        promoe_err_set(err, "%s: out of memory assembling %zu tokens", b->source, num_tokens);
        goto out;
    }
    memset(experts, 0xff, num_tokens * LK * sizeof *experts); /* all -1 */
    size_t t = (size_t)-1;
    int64_t layers_present = 0;
    for (size_t i = 0; i < b->n; i++) {
        const stored_record *r = &b->recs[i], *p = i ? &b->recs[i - 1] : NULL;
        if (!p || p->request != r->request || p->token != r->token) {
            t++;
            request[t] = (int32_t)r->request;
            req_ids[t] = r->request;
            position[t] = (int32_t)r->token;
            phase[t] = r->phase;
            iter[t] = (int32_t)r->iteration;
        }
        memcpy(experts + t * LK + (size_t)r->layer * K, b->ids + r->offset, r->count * sizeof *experts);
        memcpy(weights + t * LK + (size_t)r->layer * K, b->wts + r->offset, r->count * sizeof *weights);
        layers_present++;
    }

    w = trace_writer_create(path, &meta, err);
    if (!w)
        goto out;
    /* requests: unique ids in order, lengths counted from their tokens */
    qsort(req_ids, num_tokens, sizeof *req_ids, cmp_i64);
    size_t num_req = 0;
    for (size_t i = 0; i < num_tokens; i++)
        if (i == 0 || req_ids[i] != req_ids[i - 1])
            req_ids[num_req++] = req_ids[i];
    trace_request *reqs = calloc(num_req, sizeof *reqs);
    if (!reqs) {
        promoe_err_set(err, "%s: out of memory", b->source);
        goto out;
    }
    for (size_t i = 0; i < num_req; i++) {
        reqs[i].id = (int32_t)req_ids[i];
        snprintf(reqs[i].dataset, sizeof reqs[i].dataset, "%s", dataset);
    }
    for (size_t j = 0; j < num_tokens; j++) {
        int64_t id = request[j];
        const int64_t *at = bsearch(&id, req_ids, num_req, sizeof *req_ids, cmp_i64);
        trace_request *q = &reqs[at - req_ids];
        if (phase[j] == TRACE_PREFILL)
            q->prompt_len++;
        else
            q->output_len++;
    }
    size_t added = 0;
    while (added < num_req && trace_writer_add_request(w, &reqs[added], err) == 0)
        added++;
    free(reqs);
    if (added < num_req)
        goto out;
    size_t iterations = 0;
    for (size_t s = 0; s < num_tokens;) {
        size_t e = s + 1;
        while (e < num_tokens && iter[e] == iter[s])
            e++;
        trace_iteration it = {
            .id = iter[s], .num_tokens = e - s, .request = request + s, .position = position + s,
            .phase = phase + s, .experts = experts + s * LK,
            .weights = b->any_weights ? weights + s * LK : NULL,
        };
        if (trace_writer_append(w, &it, err) < 0)
            goto out;
        iterations++;
        s = e;
    }
    rc = trace_writer_commit(w, err);
    w = NULL;
    if (rc == 0 && rep) {
        rep->records = (int64_t)b->n;
        rep->tokens = (int64_t)num_tokens;
        rep->iterations = (int64_t)iterations;
        rep->requests = (int64_t)num_req;
        rep->missing = (int64_t)num_tokens * L - layers_present;
        rep->seen = trace_builder_seen(b);
    }
out:
    trace_writer_abort(w);
    free(req_ids);
    free(request);
    free(position);
    free(phase);
    free(experts);
    free(weights);
    free(iter);
    return rc;
}
