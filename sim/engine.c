#include "sim/engine.h"
#include "sim/layer_offload.h"
#include "sim/step_stats.h"

#include <stdlib.h>
#include <string.h>

#include "offload/copy_engine.h"
#include "offload/engine.h"
#include "offload/next_use.h"
#include "sim/batcher.h"
#include "sim/event_queue.h"
#include "traces/trace.h"

enum { EV_CHUNK_DONE = 1, EV_PREFETCH = 2, EV_CPU_DONE = 3 };

/* The simulator's clock around the decision engine (offload/engine.h):
 * the GPU stream, the copy engine's chunks and the CPU as events in time,
 * fed to the engine, which decides. */
typedef struct engine {
    const sim_config *cfg;
    sim_result *r;
    int L, E, K;
    offload_engine *oe;
    copy_engine *ce;
    event_queue q;
    int64_t *ready_ns;     /* [key] when its copy or CPU computation ended */
    const predictor_ops *pops;
    void *pst;
    predictor_info pinfo;
    predictor_future future;
    step_buf it[2];        /* current and next step */
    int cur;
    predictor_obs_buf future_buf[2]; /* the oracle's views of this and the next step */
    predictor_obs_buf obs_buf;       /* what the predictor observes */
    int D;
    int64_t gpu_ns, cpu_free_ns;
    int64_t now_ns;        /* when what the decision engine is told happens */
    int64_t chunk_end_ns;  /* when the copy engine's chunk in flight ends */
    /* the running layer: when it began, and what a layer of this step
     * takes to its gate and in all, computing (prefetch_by_gain's lead) */
    int64_t layer_start_ns, to_gate_ns, layer_ns, expert_ns;
    int64_t copy_ns;       /* one expert's copy, all its chunks */
    int *order;            /* the running layer's experts not yet computed */
    int64_t lowbit_chunk_ns;  /* a low-precision copy's chunks */
    double lowbit_chunk_bytes;
    /* predictions waiting for the predictor's CPU time, a FIFO ring: the CPU
     * runs one prediction at a time, so their events fire in queue order */
    offload_prediction *sets;
    int sets_cap, sets_head, sets_count;
    /* for offline policies: where each key is next demanded, positions
     * being step * L + layer */
    next_use uses;
    int64_t iter_index;
    policy_future policy_future;
    /* decode latencies in ms, as running statistics: memory does not grow
     * with the trace (percentiles are P^2 estimates, exact up to 5 samples) */
    step_stats stats;
} engine;

void sim_config_defaults(sim_config *c)
{
    memset(c, 0, sizeof *c);
    offload_config_defaults(&c->offload);
    c->seed = 1;
}

/* The oracle's view: layer `layer` of the current (ahead 0) or next
 * iteration. */
static size_t future_experts(void *ctx, int ahead, int layer, const int16_t **ids)
{
    engine *e = ctx;
    if (ahead < 0 || ahead > 1 || layer < 0 || layer >= e->L)
        return 0;
    step_buf *b = &e->it[ahead == 0 ? e->cur : 1 - e->cur];
    predictor_obs view;
    if (!b->valid || predictor_obs_fill(&e->future_buf[ahead], &view, layer, b->n, e->L, e->K, 0,
                                        b->request, b->position, b->experts, NULL) < 0)
        return 0;
    *ids = view.experts;
    return b->n;
}

/* The copy engine is about to copy a task's first chunk: the decision
 * engine gives a prefetch its slot only now, or withdraws it. */
static int on_copy_start(void *ctx, int key)
{
    engine *e = ctx;
    return offload_engine_copy_start(e->oe, key);
}

/* A chunk the copy engine starts (key >= 0) ends after its cost. */
static void schedule_chunk(engine *e, int key)
{
    if (key < 0)
        return;
    e->chunk_end_ns = e->now_ns + copy_engine_chunk_ns(e->ce, key);
    event_queue_push(&e->q, e->chunk_end_ns, EV_CHUNK_DONE, key, 0);
}

/* The decision engine's requests, carried out on the simulator's clock. */
static void clock_copy(void *ctx, int key, int priority, int64_t order, int lowbit)
{
    engine *e = ctx;
    schedule_chunk(e, lowbit ? copy_engine_submit_sized(e->ce, key, priority, order,
                                                        e->lowbit_chunk_ns,
                                                        e->lowbit_chunk_bytes)
                             : copy_engine_submit(e->ce, key, priority, order));
}

static void clock_promote(void *ctx, int key)
{
    engine *e = ctx;
    copy_engine_promote(e->ce, key);
}

static int clock_drop(void *ctx, int key)
{
    engine *e = ctx;
    return copy_engine_drop(e->ce, key);
}

static int clock_in_flight(void *ctx)
{
    engine *e = ctx;
    return copy_engine_in_flight(e->ce);
}

static int clock_chunks_done(void *ctx, int key)
{
    engine *e = ctx;
    return copy_engine_chunks_done(e->ce, key);
}

/* The link time free before the gate of position `when` once a LOW copy
 * queued now for it is done (offload_lead_slack), on the cost model's
 * clock: this step's compute per layer, its demand copies as the copy
 * engine has them queued. */
static int64_t clock_slack(void *ctx, int64_t when)
{
    engine *e = ctx;
    const copy_engine *ce = e->ce;
    offload_lead l = {
        .now = (double)e->now_ns, .layer_end = (double)(e->layer_start_ns + e->layer_ns),
        .demands_done = (double)(copy_engine_estimate_done(ce, e->now_ns, e->chunk_end_ns,
                                                           COPY_HIGH, 0) - e->copy_ns),
        .expert = (double)e->expert_ns, .layer = (double)e->layer_ns,
        .to_gate = (double)e->to_gate_ns,
        .copy_done = (double)copy_engine_estimate_done(ce, e->now_ns, e->chunk_end_ns, COPY_LOW,
                                                       when),
        .copy = (double)e->copy_ns, .misses = offload_engine_misses_ahead(e->oe),
        .layers_between = when - offload_engine_position(e->oe) - 1};
    return offload_lead_slack(&l);
}

/* Computes the missed expert on the CPU, always or (Fiddler's choice) if
 * that ends before a demand copy would; returns 1 if it does.  Its
 * activations cross PCIe both ways as latency, not on the copy engine. */
static int clock_cpu_compute(void *ctx, int key, int tokens)
{
    engine *e = ctx;
    const cost_model *c = &e->cfg->cost;
    int64_t act = sim_ns(cost_transfer_s(c, (double)tokens * c->model.hidden_size * 2));
    int64_t start = e->cpu_free_ns > e->gpu_ns ? e->cpu_free_ns : e->gpu_ns;
    int64_t done = start + act + sim_ns(cost_expert_cpu_s(c, tokens)) + act;
    if (e->cfg->offload.cpu_compute == CPU_COMPUTE_SOONER &&
        done >= copy_engine_estimate_done(e->ce, e->gpu_ns, e->chunk_end_ns, COPY_HIGH, 0))
        return 0;
    e->cpu_free_ns = done - act;
    return event_queue_push(&e->q, done, EV_CPU_DONE, key, 0) == 0;
}

/* Handles one event. */
static void handle(engine *e, const sim_event *ev)
{
    e->now_ns = ev->time_ns;
    if (ev->kind == EV_CHUNK_DONE) {
        int key;
        schedule_chunk(e, copy_engine_chunk_done(e->ce, &key));
        if (key >= 0) {
            e->ready_ns[key] = ev->time_ns;
            offload_engine_copy_done(e->oe, key);
        }
        return;
    }
    if (ev->kind == EV_CPU_DONE) {
        e->ready_ns[ev->a] = ev->time_ns;
        offload_engine_cpu_done(e->oe, ev->a);
        return;
    }
    offload_prediction *p = &e->sets[e->sets_head];
    e->sets_head = (e->sets_head + 1) % e->sets_cap;
    e->sets_count--;
    offload_engine_prefetch(e->oe, p);
}

/* The free slot after the queued predictions (the ring grows, in order, when
 * full); NULL when out of memory. */
static offload_prediction *pending_tail(engine *e)
{
    if (e->sets_count == e->sets_cap) {
        int c = e->sets_cap ? 2 * e->sets_cap : 64;
        offload_prediction *p = calloc((size_t)c, sizeof *p);
        if (!p)
            return NULL;
        for (int i = 0; i < e->sets_cap; i++)
            p[i] = e->sets[(e->sets_head + i) % e->sets_cap];
        free(e->sets);
        e->sets = p;
        e->sets_cap = c;
        e->sets_head = 0;
    }
    offload_prediction *s = &e->sets[(e->sets_head + e->sets_count) % e->sets_cap];
    if (!s->keys && offload_prediction_alloc(s, e->E) < 0)
        return NULL;
    return s;
}

static void run_until(engine *e, int64_t t)
{
    sim_event ev;
    while (event_queue_peek(&e->q) && event_queue_peek(&e->q)->time_ns <= t) {
        event_queue_pop(&e->q, &ev);
        handle(e, &ev);
    }
}

/* Runs events until key can be computed; returns the time it could. */
static int64_t wait_ready(engine *e, int key)
{
    sim_event ev;
    while (!offload_engine_ready(e->oe, key) && event_queue_pop(&e->q, &ev))
        handle(e, &ev);
    return e->ready_ns[key];
}

/* Asks the predictor about layer `target` (counted from the start of the
 * current iteration) and schedules the prefetch after its CPU time. */
static int predict_and_schedule(engine *e, int target)
{
    int ahead = target / e->L, layer = target % e->L;
    if (ahead > 1 || (ahead == 1 && !e->it[1 - e->cur].valid))
        return 0;
    offload_prediction *s = pending_tail(e);
    if (!s)
        return -1;
    s->when = (e->iter_index + ahead) * e->L + layer;
    int tokens = (int)e->it[ahead == 0 ? e->cur : 1 - e->cur].n;
    if (offload_engine_pick(e->oe, e->pops, e->pst, ahead, layer, tokens, s) == 0)
        return 0;
    /* the predictor runs on the CPU, one call after another */
    int64_t start = e->cpu_free_ns > e->gpu_ns ? e->cpu_free_ns : e->gpu_ns;
    e->cpu_free_ns = start + sim_ns(cost_prediction_s(&e->cfg->cost,
                                                      e->cfg->offload.predictor_us * 1e-6,
                                                      e->pinfo.flops, e->pinfo.bytes,
                                                      (double)e->it[e->cur].n));
    if (e->cpu_free_ns == e->gpu_ns) { /* no CPU time: submit now */
        e->now_ns = e->gpu_ns;
        offload_engine_prefetch(e->oe, s);
        return 0;
    }
    e->sets_count++;
    return event_queue_push(&e->q, e->cpu_free_ns, EV_PREFETCH, 0, 0);
}

static void stall_until(engine *e, int64_t t)
{
    if (t > e->gpu_ns) {
        e->r->gpu_stall_ns += t - e->gpu_ns;
        e->gpu_ns = t;
    }
}

/* Index into order[0..left) of the first expert that can run now, or -1.
 * (Every event handled so far is no later than gpu_ns.) */
static int first_ready(const engine *e, int left)
{
    for (int i = 0; i < left; i++) {
        int key, tokens;
        offload_engine_layer_expert(e->oe, e->order[i], &key, &tokens);
        if (offload_engine_ready(e->oe, key))
            return i;
    }
    return -1;
}

/* Computes the layer's experts in order or, with reorder, whichever can
 * run first, waiting for copies as needed. */
static void compute_experts(engine *e)
{
    int n = offload_engine_layer_size(e->oe), left = n;
    for (int i = 0; i < n; i++)
        e->order[i] = i;
    while (left > 0) {
        int pick = 0;
        if (e->cfg->offload.reorder) {
            const sim_event *next;
            while ((pick = first_ready(e, left)) < 0 && (next = event_queue_peek(&e->q))) {
                stall_until(e, next->time_ns);
                run_until(e, e->gpu_ns);
            }
            if (pick < 0)
                pick = 0;
        }
        int key, tokens;
        offload_engine_layer_expert(e->oe, e->order[pick], &key, &tokens);
        if (e->cfg->offload.load_on_reach) { /* a miss is asked for now */
            run_until(e, e->gpu_ns);
            e->now_ns = e->gpu_ns;
            offload_engine_reach(e->oe, key);
        }
        stall_until(e, wait_ready(e, key));
        if (!offload_engine_on_cpu(e->oe, key)) /* else the CPU computed it */
            e->gpu_ns += sim_ns(cost_expert_s(&e->cfg->cost, tokens));
        memmove(&e->order[pick], &e->order[pick + 1], (size_t)(left - pick - 1) * sizeof(int));
        left--;
    }
}

/* The running layer's compute, had its experts all been resident: to its
 * gate, in all, and an expert's on average (clock_slack's lead). */
static void lead_of_layer(engine *e, int64_t to_gate_ns, int64_t shared_ns)
{
    int64_t experts_ns = 0;
    int size = offload_engine_layer_size(e->oe);
    for (int i = 0; i < size; i++) {
        int key, tokens;
        offload_engine_layer_expert(e->oe, i, &key, &tokens);
        experts_ns += sim_ns(cost_expert_s(&e->cfg->cost, tokens));
    }
    e->to_gate_ns = to_gate_ns;
    e->layer_ns = to_gate_ns + shared_ns + experts_ns;
    e->expert_ns = size > 0 ? experts_ns / size : 0;
}

static int64_t attention_ns(engine *e, const step_buf *b)
{
    return sim_ns(cost_step_attention_s(&e->cfg->cost, b->n, b->request, b->position, 0));
}

static int run_iteration(engine *e)
{
    step_buf *b = &e->it[e->cur];
    const cost_model *c = &e->cfg->cost;
    int64_t start = e->gpu_ns, stalled_before = e->r->gpu_stall_ns;
    int n = (int)b->n;
    int64_t att = attention_ns(e, b);
    int64_t router = sim_ns(cost_router_s(c, n));
    int64_t shared = sim_ns(cost_shared_experts_s(c, n));
    size_t row = (size_t)e->L * (size_t)e->K;
    e->pops->begin_iteration(e->pst);
    int decode = 1;
    for (int t = 0; t < n; t++)
        decode &= b->phase[t] == TRACE_DECODE;
    offload_engine_set_phase(e->oe, decode);
    for (int l = 0; l < e->L; l++) {
        offload_engine_begin_layer(e->oe, e->iter_index * e->L + l);
        e->layer_start_ns = e->gpu_ns;
        e->gpu_ns += att + router;
        run_until(e, e->gpu_ns);
        e->now_ns = e->gpu_ns;
        offload_engine_gate(e->oe, b->experts + (size_t)l * (size_t)e->K,
                            b->weights ? b->weights + (size_t)l * (size_t)e->K : NULL, b->n, row);
        if (e->cfg->offload.prefetch_by_gain) /* only its slack reads them */
            lead_of_layer(e, att + router, shared);
        /* the predictor sees this layer's routing, then looks ahead */
        predictor_obs obs;
        if (predictor_obs_fill(&e->obs_buf, &obs, l, b->n, e->L, e->K, e->D, b->request,
                               b->position, b->experts, b->hidden) < 0)
            return -1;
        e->pops->observe(e->pst, &obs);
        if (predict_and_schedule(e, l + e->cfg->offload.stride) < 0)
            return -1;
        e->gpu_ns += shared;
        compute_experts(e);
        offload_engine_layer_done(e->oe);
    }
    e->gpu_ns += sim_ns(cost_step_fixed_s(c, n));
    step_stats_record(&e->stats, e->r, b, e->gpu_ns - start, e->r->gpu_stall_ns - stalled_before);
    e->iter_index++;
    return 0;
}

/* Position of the next demand for key from the current layer on (a key
 * the running layer still needs reads as used now). */
static int64_t next_demand(void *ctx, int key)
{
    engine *e = ctx;
    return next_use_from(&e->uses, key, offload_engine_position(e->oe));
}

static int64_t demand_now(void *ctx)
{
    return offload_engine_position(((engine *)ctx)->oe);
}

/* One pass over the steps the engine will run (the same batcher): each
 * key's demands, in order. */
static int build_use_index(engine *e, const char *path, promoe_err *err)
{
    size_t keys = (size_t)e->L * (size_t)e->E, lk = (size_t)e->L * (size_t)e->K;
    trace_reader *r = trace_reader_open(path, 0, err);
    batcher *bt = r ? batcher_create(r, e->cfg->batch > 0 ? e->cfg->batch : 1, err) : NULL;
    if (!bt) {
        trace_reader_close(r);
        return -1;
    }
    /* a step holds at least one token: positions stay below tokens x L */
    int64_t tokens = trace_reader_meta(r)->num_tokens;
    int64_t *seen = malloc(keys * sizeof *seen); /* last position listed, per key */
    int rc = -1;
    if (!seen || next_use_init(&e->uses, (int)keys, tokens * (int64_t)lk, tokens * e->L) < 0) {
        promoe_err_set(err, "out of memory for the next-use index");
        goto out;
    }
    for (size_t k = 0; k < keys; k++)
        seen[k] = -1;
    step_buf step = {0};
    int got;
    int64_t iter = 0;
    while ((got = batcher_next(bt, &step, err)) > 0) {
        for (size_t j = 0; j < step.n * lk; j++) {
            if (step.experts[j] < 0)
                continue;
            int layer = (int)((j % lk) / (size_t)e->K);
            int key = layer * e->E + step.experts[j];
            int64_t pos = iter * e->L + layer;
            if (seen[key] == pos)
                continue; /* one demand per (step, layer, expert) */
            seen[key] = pos;
            next_use_add(&e->uses, key, pos);
        }
        iter++;
    }
    step_buf_free(&step);
    if (got == 0) {
        next_use_ready(&e->uses);
        rc = 0;
    }
out:
    free(seen);
    batcher_free(bt);
    trace_reader_close(r);
    return rc;
}

static void engine_free(engine *e)
{
    offload_engine_free(e->oe);
    copy_engine_free(e->ce);
    event_queue_free(&e->q);
    if (e->pst)
        e->pops->destroy(e->pst);
    free(e->ready_ns);
    step_buf_free(&e->it[0]);
    step_buf_free(&e->it[1]);
    predictor_obs_buf_free(&e->future_buf[0]);
    predictor_obs_buf_free(&e->future_buf[1]);
    predictor_obs_buf_free(&e->obs_buf);
    free(e->order);
    for (int i = 0; i < e->sets_cap; i++)
        offload_prediction_free(&e->sets[i]);
    free(e->sets);
    step_stats_free(&e->stats);
    next_use_free(&e->uses);
}

/* One chunk's copy: its transfer plus the fixed cost per chunk (a fault). */
static int64_t chunk_ns(const sim_config *cfg, double bytes)
{
    return sim_ns(cost_transfer_s(&cfg->cost, bytes) + cfg->offload.fault_us * 1e-6);
}

static int engine_init(engine *e, const sim_config *cfg, const char *path, trace_reader *rd,
                       sim_result *r, promoe_err *err)
{
    const trace_meta *m = trace_reader_meta(rd);
    const offload_config *oc = &cfg->offload;
    memset(e, 0, sizeof *e);
    e->cfg = cfg;
    e->D = m->hidden_dim;
    e->r = r;
    e->L = m->num_layers;
    e->E = m->num_experts;
    e->K = m->top_k;
    event_queue_init(&e->q);
    if (oc->stride < 1)
        return promoe_err_set(err, "stride %d must be at least 1", oc->stride);
    if (oc->chunks < 1 || oc->chunks > 1024)
        return promoe_err_set(err, "chunks per expert %d must be in [1, 1024]", oc->chunks);
    e->pops = oc->predictor_ops ? oc->predictor_ops : predictor_find(oc->predictor);
    if (!e->pops)
        return promoe_err_set(err, "unknown predictor '%s' (predictors: %s)", oc->predictor,
                              predictor_names());
    size_t keys = (size_t)e->L * (size_t)e->E;
    const policy_future *future = NULL;
    const cache_policy_ops *pol = policy_find(oc->policy);
    if (pol && pol->needs_future) {
        if (build_use_index(e, path, err) < 0)
            return -1;
        e->policy_future = (policy_future){.next_use = next_demand, .now = demand_now, .ctx = e};
        future = &e->policy_future;
    }
    offload_clock_ops ops = {.copy = clock_copy, .promote = clock_promote, .drop = clock_drop,
                             .in_flight = clock_in_flight, .chunks_done = clock_chunks_done,
                             .cpu_compute = clock_cpu_compute, .slack = clock_slack, .ctx = e};
    if (!(e->oe = offload_engine_create(oc, e->L, e->E, e->K, future, &ops, err)))
        return -1;
    r->slots = offload_engine_capacity(e->oe);
    offload_engine_set_log(e->oe, cfg->log);
    double bytes = (double)model_expert_bytes(&cfg->cost.model);
    double chunk_bytes = bytes / oc->chunks;
    e->copy_ns = oc->chunks * chunk_ns(cfg, chunk_bytes);
    e->ce = copy_engine_create((int)keys, oc->chunks, chunk_ns(cfg, chunk_bytes), chunk_bytes,
                               oc->preempt);
    if (e->ce)
        copy_engine_set_start_hook(e->ce, on_copy_start, e);
    e->lowbit_chunk_bytes = chunk_bytes * oc->lowbit_ratio;
    e->lowbit_chunk_ns = chunk_ns(cfg, e->lowbit_chunk_bytes);
    if (oc->lowbit_weight > 0 && !(m->content & TRACE_WEIGHTS))
        return promoe_err_set(err, "low-precision loads on a miss choose by gate weight: %s has "
                              "no routing/weights (record or import them, or drop "
                              "--lowbit-on-miss)", path);
    if (oc->lowbit_weight > 0 && !(oc->lowbit_ratio > 0 && oc->lowbit_ratio <= 1))
        return promoe_err_set(err, "low-precision byte ratio %g must be in (0, 1]",
                              oc->lowbit_ratio);
    e->ready_ns = calloc(keys, sizeof *e->ready_ns);
    e->order = malloc(keys * sizeof *e->order);
    if (step_stats_init(&e->stats) < 0 || !e->ce || !e->ready_ns || !e->order)
        return promoe_err_set(err, "out of memory");
    e->future = (predictor_future){future_experts, e};
    predictor_env penv = {.stride_lo = oc->stride, .stride_hi = oc->stride, .seed = cfg->seed,
                          .future = e->pops->needs_future ? &e->future : NULL};
    if (!(e->pst = predictor_create_for_trace(e->pops, oc->predictor_options, rd, path, &penv,
                                              err)))
        return -1;
    e->pinfo = predictor_get_info(e->pops, e->pst);
    return 0;
}

static void finish(engine *e, sim_result *r)
{
    offload_engine_finish(e->oe); /* prefetched experts never used count as wasted */
    r->counts = *offload_engine_counts(e->oe);
    r->decisions_digest = offload_engine_digest(e->oe);
    const offload_counts *n = &r->counts;
    const copy_stats *cs = copy_engine_stats(e->ce);
    r->pcie_bytes = cs->bytes;
    r->pcie_busy_ns = cs->busy_ns;
    r->preemptions = cs->preemptions;
    r->total_ns = e->gpu_ns;
    offload_rates rate = offload_counts_rates(n);
    r->lowbit_share = rate.lowbit_share;
    r->prefetch_accuracy = rate.prefetch_accuracy;
    r->prefetch_fetch_rate = rate.prefetch_fetch_rate;
    r->goodpred = rate.goodpred;
    step_stats_finish(&e->stats, r);
}

int sim_run(const char *trace_path, const sim_config *cfg, sim_result *out, promoe_err *err)
{
    memset(out, 0, sizeof *out);
    const predictor_ops *pops = cfg->offload.predictor_ops ? cfg->offload.predictor_ops
                                                   : predictor_find(cfg->offload.predictor);
    trace_reader *rd = trace_reader_open(trace_path,
                                         (pops && pops->needs_hidden ? TRACE_HIDDEN : 0) |
                                             (cfg->offload.lowbit_weight > 0 ? TRACE_WEIGHTS : 0),
                                         err);
    if (!rd && cfg->offload.lowbit_weight > 0)
        return promoe_err_prefix(err, "low-precision loads on a miss (HOBBIT)");
    if (!rd)
        return pops && pops->needs_hidden ? promoe_err_prefix(err, "predictor %s", pops->name)
                                          : -1;
    const trace_meta *m = trace_reader_meta(rd);
    const model_desc *md = &cfg->cost.model;
    engine e;
    batcher *bt = NULL;
    int rc = -1;
    if (md->num_layers != m->num_layers || md->num_experts != m->num_experts ||
        md->top_k < m->top_k) {
        promoe_err_set(err, "model %s (%d layers, %d experts, top-%d) does not match the trace "
                       "%s (%d layers, %d experts, top-%d)", md->name, md->num_layers,
                       md->num_experts, md->top_k, trace_path, m->num_layers, m->num_experts,
                       m->top_k);
        memset(&e, 0, sizeof e);
        goto out;
    }
    if (cfg->offload.layer_offload) { /* no expert cache: whole layers move or run on the CPU */
        memset(&e, 0, sizeof e);
        out->requests = m->num_requests;
        rc = layer_offload_run(rd, cfg, out, err);
        goto out;
    }
    if (engine_init(&e, cfg, trace_path, rd, out, err) < 0)
        goto out;
    out->requests = m->num_requests;
    if (!(bt = batcher_create(rd, cfg->batch > 0 ? cfg->batch : 1, err)))
        goto out;
    /* one step ahead, so predictions may look into the next one */
    int got = batcher_next(bt, &e.it[0], err);
    while (got > 0) {
        got = batcher_next(bt, &e.it[1 - e.cur], err);
        if (got < 0)
            goto out;
        if (run_iteration(&e) < 0)
            goto oom;
        if (cfg->progress)
            cfg->progress(out->tokens, m->num_tokens);
        e.it[e.cur].valid = 0;
        e.cur = 1 - e.cur;
        if (!e.it[e.cur].valid)
            break;
    }
    if (got < 0)
        goto out;
    finish(&e, out);
    rc = 0;
    goto out;
oom:
    promoe_err_set(err, "out of memory during the simulation");
out:
    engine_free(&e);
    batcher_free(bt);
    trace_reader_close(rd);
    return rc;
}
