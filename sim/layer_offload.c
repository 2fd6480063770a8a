#include "sim/layer_offload.h"

#include <stdlib.h>
#include <string.h>

#include "sim/batcher.h"
#include "sim/event_queue.h"
#include "sim/step_stats.h"

int layer_offload_plan(const sim_config *cfg, int *resident, int *buffers, promoe_err *err)
{
    const cost_model *c = &cfg->cost;
    int L = c->model.num_layers;
    double layer = cost_layer_weight_bytes(c);
    double experts = (double)c->model.num_experts * (double)model_expert_bytes(&c->model);
    double budget = (double)cfg->offload.slots * (double)model_expert_bytes(&c->model) +
                    L * (layer - experts); /* what cache systems hold */
    *buffers = 0;
    if (L * layer <= budget) {
        *resident = L;
        return 0;
    }
    int spare = cfg->offload.layer_offload == LAYER_OFFLOAD_STREAM ? 2 : 0;
    int n = (int)(budget / layer) - spare;
    if (n < 0)
        n = 0;
    *resident = n;
    if (cfg->offload.layer_offload == LAYER_OFFLOAD_STREAM) {
        *buffers = (int)((budget - n * layer) / layer);
        if (*buffers > 2)
            *buffers = 2;
        if (*buffers < 1)
            return promoe_err_set(err, "layer streaming: a budget of %.0f bytes (the cache's "
                                  "experts and the non-expert weights) cannot hold one layer "
                                  "(%.0f bytes) to stream through; give a larger --cache",
                                  budget, layer);
    }
    return 0;
}

typedef struct offload_run {
    const sim_config *cfg;
    sim_result *r;
    int L, E, K, resident, buffers;
    int *count;             /* [E] tokens choosing each expert in the layer */
    int64_t *copy_done;     /* [L] when each streamed layer's copy ends this step */
    int64_t *computed;      /* [L] when each layer's compute ended this step */
    int64_t gpu_ns, copy_free_ns, layer_copy_ns;
    double layer_bytes;
    step_stats s;
} offload_run;

/* Tokens per expert chosen in layer l; returns the experts chosen. */
static int count_experts(offload_run *o, const step_buf *b, int l)
{
    memset(o->count, 0, (size_t)o->E * sizeof *o->count);
    int chosen = 0;
    for (size_t t = 0; t < b->n; t++)
        for (int k = 0; k < o->K; k++) {
            int x = b->experts[t * b->lk + (size_t)l * o->K + k];
            if (x >= 0 && x < o->E)
                chosen += o->count[x]++ == 0;
        }
    return chosen;
}

/* One layer's attention, router, shared and chosen experts, on the GPU or
 * the CPU. */
static int64_t layer_ns(const offload_run *o, const step_buf *b, int on_cpu)
{
    const cost_model *c = &o->cfg->cost;
    int n = (int)b->n;
    double s = cost_step_attention_s(c, b->n, b->request, b->position, on_cpu);
    s += on_cpu ? cost_router_cpu_s(c, n) + cost_shared_experts_cpu_s(c, n)
                : cost_router_s(c, n) + cost_shared_experts_s(c, n);
    for (int x = 0; x < o->E; x++)
        if (o->count[x])
            s += on_cpu ? cost_expert_cpu_s(c, o->count[x]) : cost_expert_s(c, o->count[x]);
    return sim_ns(s);
}

/* Streamed layer j (0-based among the streamed) starts copying when the
 * link is free and a buffer is: buffer j mod B last held layer j - B. */
static void issue_copy(offload_run *o, int j, int64_t step_start)
{
    int64_t start = o->copy_free_ns > step_start ? o->copy_free_ns : step_start;
    if (j >= o->buffers) {
        int64_t freed = o->computed[o->resident + j - o->buffers];
        if (freed > start)
            start = freed;
    }
    o->copy_done[o->resident + j] = start + o->layer_copy_ns;
    o->copy_free_ns = o->copy_done[o->resident + j];
    o->r->pcie_busy_ns += o->layer_copy_ns;
    o->r->pcie_bytes += o->layer_bytes;
}

static void run_step(offload_run *o, const step_buf *b)
{
    const sim_config *cfg = o->cfg;
    sim_result *r = o->r;
    int64_t start = o->gpu_ns, stalled = r->gpu_stall_ns;
    int streamed = o->L - o->resident, stream = cfg->offload.layer_offload == LAYER_OFFLOAD_STREAM;
    o->copy_free_ns = start;
    for (int j = 0; stream && j < streamed && j < o->buffers; j++)
        issue_copy(o, j, start);
    for (int l = 0; l < o->L; l++) {
        int chosen = count_experts(o, b, l);
        r->counts.demands += chosen;
        int64_t ready = o->gpu_ns;
        if (l < o->resident) {
            r->counts.hits += chosen;
        } else {
            r->counts.misses += chosen;
            if (stream) {
                ready = o->copy_done[l];
            } else if (l == o->resident && l > 0) { /* activations to the CPU */
                double bytes = (double)b->n * cfg->cost.model.hidden_size * 2;
                ready = o->gpu_ns + sim_ns(cost_transfer_s(&cfg->cost, bytes));
                r->pcie_bytes += bytes;
                r->pcie_busy_ns += ready - o->gpu_ns;
            }
        }
        if (ready > o->gpu_ns) {
            r->gpu_stall_ns += ready - o->gpu_ns;
            o->gpu_ns = ready;
        }
        int on_cpu = !stream && l >= o->resident;
        int64_t t = layer_ns(o, b, on_cpu);
        if (on_cpu)
            r->gpu_stall_ns += t; /* the GPU waits for the CPU */
        o->gpu_ns += t;
        o->computed[l] = o->gpu_ns;
        int next = l - o->resident + o->buffers; /* the copy this layer's buffer frees */
        if (stream && l >= o->resident && next < streamed)
            issue_copy(o, next, start);
    }
    o->gpu_ns += sim_ns(cost_step_fixed_s(&cfg->cost, (int)b->n));
    step_stats_record(&o->s, r, b, o->gpu_ns - start, r->gpu_stall_ns - stalled);
}

int layer_offload_run(trace_reader *rd, const sim_config *cfg, sim_result *out, promoe_err *err)
{
    const trace_meta *m = trace_reader_meta(rd);
    offload_run o = {.cfg = cfg, .r = out, .L = m->num_layers, .E = m->num_experts,
                     .K = m->top_k};
    if (layer_offload_plan(cfg, &o.resident, &o.buffers, err) < 0)
        return -1;
    o.layer_bytes = cost_layer_weight_bytes(&cfg->cost);
    o.layer_copy_ns = sim_ns(cost_transfer_s(&cfg->cost, o.layer_bytes));
    o.count = calloc((size_t)o.E, sizeof *o.count);
    o.copy_done = calloc((size_t)o.L, sizeof *o.copy_done);
    o.computed = calloc((size_t)o.L, sizeof *o.computed);
    step_buf b = {0};
    batcher *bt = NULL;
    int rc = -1;
    if (!o.count || !o.copy_done || !o.computed || step_stats_init(&o.s) < 0) {
        promoe_err_set(err, "out of memory");
        goto out;
    }
    if (!(bt = batcher_create(rd, cfg->batch > 0 ? cfg->batch : 1, err)))
        goto out;
    int got;
    while ((got = batcher_next(bt, &b, err)) > 0) {
        run_step(&o, &b);
        if (cfg->progress)
            cfg->progress(out->tokens, m->num_tokens);
    }
    if (got < 0)
        goto out;
    out->total_ns = o.gpu_ns;
    out->slots = cfg->offload.slots;
    out->resident_layers = o.resident;
    step_stats_finish(&o.s, out);
    rc = 0;
out:
    step_buf_free(&b);
    batcher_free(bt);
    step_stats_free(&o.s);
    free(o.count);
    free(o.copy_done);
    free(o.computed);
    return rc;
}
