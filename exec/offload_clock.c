#include "exec/offload_clock.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/grow.h"
#include "exec/predictor_thread.h"
#include "offload/event_log.h"
#include "traces/trace.h"

struct offload_clock {
    offload_clock_config c;
    int L, E, K, D;
    expert_store *store;
    offload_engine *oe;     /* guarded by the store's lock */
    int64_t step;           /* the step running (-1 before the first) */
    int released;           /* the running layer's experts computed so far */
    int16_t *ids;           /* the step's experts, as a trace holds them */
    size_t ids_cap;
    /* the predictor, on its own thread, and what only that thread touches */
    predictor_thread *pt;
    offload_prediction pred;
    int64_t predictions;
    double predict_s;
    /* the run is over: copies still queued are withdrawn unseen, so the
     * engine's decisions end with the figures taken */
    int over;
    /* the running layer's start and its time waiting for copies so far;
     * a layer's compute (its time less its waits), a running mean (0: none
     * measured yet): prefetch_by_gain's lead */
    double layer_t0, layer_waited_s, layer_s;
};

/* What the engine asks of its clock, the store's lock held. */
static void clock_copy(void *ctx, int key, int priority, int64_t order, int lowbit)
{
    (void)lowbit; /* refused at creation */
    offload_clock *k = ctx;
    expert_store_copy(k->store, key, priority, order);
}

static void clock_promote(void *ctx, int key)
{
    offload_clock *k = ctx;
    expert_store_promote(k->store, key);
}

static int clock_drop(void *ctx, int key)
{
    offload_clock *k = ctx;
    return expert_store_drop(k->store, key);
}

static int clock_in_flight(void *ctx)
{
    offload_clock *k = ctx;
    return expert_store_in_flight(k->store);
}

static int clock_chunks_done(void *ctx, int key)
{
    offload_clock *k = ctx;
    return expert_store_chunks_done(k->store, key);
}

static void clock_place(void *ctx, int key, int victim)
{
    offload_clock *k = ctx;
    expert_store_place(k->store, key, victim);
}

static void clock_vacate(void *ctx, int key)
{
    offload_clock *k = ctx;
    expert_store_vacate(k->store, key);
}

/* The link time free before the gate of position `when` once a LOW copy
 * queued now for it is done (offload_lead_slack), on measured times: the
 * mean compute of a layer so far (the running one from its start, its
 * waits added), the chunks' mean copy time.  0 until a layer and a copy
 * have been timed. */
static int64_t clock_slack(void *ctx, int64_t when)
{
    offload_clock *k = ctx;
    double copy_s = expert_store_copy_s(k->store), now = clock_now_s();
    if (copy_s <= 0 || k->layer_s <= 0)
        return 0;
    offload_lead l = {
        .now = now, .layer_end = k->layer_t0 + k->layer_waited_s + k->layer_s,
        .demands_done = now + expert_store_copy_ahead_s(k->store, COPY_HIGH, 0) - copy_s,
        .layer = k->layer_s,
        .copy_done = now + expert_store_copy_ahead_s(k->store, COPY_LOW, when),
        .copy = copy_s, .misses = offload_engine_misses_ahead(k->oe),
        .layers_between = when - offload_engine_position(k->oe) - 1};
    return offload_lead_slack(&l);
}

/* A layer begins (the lock held): its clock starts. */
static void begin_layer(offload_clock *k, int64_t pos)
{
    offload_engine_begin_layer(k->oe, pos);
    k->layer_t0 = clock_now_s();
    k->layer_waited_s = 0;
}

/* What the copy thread tells the engine, the lock held. */
static int copy_starts(void *ctx, int key)
{
    offload_clock *k = ctx;
    return !k->over && offload_engine_copy_start(k->oe, key);
}

static void copy_ends(void *ctx, int key)
{
    offload_clock *k = ctx;
    if (!k->over)
        offload_engine_copy_done(k->oe, key);
}

static void serve_prediction(void *ctx, predictor_job *job);

const char *offload_clock_lacks(const offload_config *c)
{
    return c->layer_offload ? "whole layers offloaded"
           : c->load_on_reach ? "loads on reach (the paper's baselines)"
           : c->cpu_compute ? "misses computed on the CPU"
           : c->lowbit_weight > 0 ? "low-precision loads"
           : c->staging > 0 ? "staging buffers"
           : c->fault_us > 0 ? "page-fault costs (unified memory)" : NULL;
}

offload_clock *offload_clock_create(const offload_clock_config *c, const expert_mover *mv,
                                    promoe_err *err)
{
    const offload_config *oc = c->offload;
    const char *lacks = offload_clock_lacks(oc);
    if (lacks) {
        promoe_err_set(err, "the executor does not run %s (replay a recorded trace in "
                       "'promoe sim')", lacks);
        return NULL;
    }
    if (oc->stride < 1) {
        promoe_err_set(err, "stride %d must be at least 1", oc->stride);
        return NULL;
    }
    const cache_policy_ops *pol = policy_find(oc->policy);
    if (pol && pol->needs_future) {
        promoe_err_set(err, "policy %s reads the future, which a running model does not know",
                       oc->policy);
        return NULL;
    }
    offload_clock *k = calloc(1, sizeof *k);
    if (!k) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    *k = (offload_clock){.c = *c, .L = c->num_layers, .E = c->num_experts, .K = c->top_k,
                         .D = c->hidden_size, .step = -1};
    if (offload_prediction_alloc(&k->pred, k->E) < 0) {
        offload_clock_free(k);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    expert_store_config sc = {.num_layers = k->L, .num_experts = k->E, .capacity = oc->slots,
                              .chunks = oc->chunks > 0 ? oc->chunks : 1,
                              .preempt = oc->preempt, .streaming = 1,
                              .hooks = {copy_starts, copy_ends, k}};
    offload_clock_ops ops = {.copy = clock_copy, .promote = clock_promote, .drop = clock_drop,
                             .in_flight = clock_in_flight, .chunks_done = clock_chunks_done,
                             .place = clock_place, .vacate = clock_vacate,
                             .slack = clock_slack, .ctx = k};
    /* the store first: the engine places its first contents as it starts */
    if (!(k->store = expert_store_create(mv, &sc, err)) ||
        !(k->oe = offload_engine_create(oc, k->L, k->E, k->K, NULL, &ops, err)) ||
        expert_store_fill(k->store, err) < 0) {
        offload_clock_free(k);
        return NULL;
    }
    offload_engine_set_log(k->oe, c->log);
    if (c->pops && !(k->pt = predictor_thread_create(k->K, k->D, serve_prediction, k, err))) {
        offload_clock_free(k);
        return NULL;
    }
    return k;
}

void offload_clock_free(offload_clock *k)
{
    if (!k)
        return;
    predictor_thread_free(k->pt); /* stops the threads that call the engine */
    expert_store_free(k->store);
    offload_engine_free(k->oe);
    free(k->ids);
    offload_prediction_free(&k->pred);
    free(k);
}

int offload_clock_begin_step(offload_clock *k, int decode, promoe_err *err)
{
    k->step++;
    if (k->pt && predictor_thread_begin(k->pt, k->step, err) < 0)
        return -1;
    expert_store_lock(k->store);
    offload_engine_set_phase(k->oe, decode);
    begin_layer(k, k->step * k->L);
    expert_store_unlock(k->store);
    return 0;
}

/* On the predictor's thread, in order: a step begins; or the predictor
 * observes a layer (its hidden states rounded as a trace holds them) and
 * predicts the one `stride` ahead (into the next step past the last
 * layer, a decode step of one token), whose prefetches are queued as soon
 * as it has answered. */
static void serve_prediction(void *ctx, predictor_job *job)
{
    offload_clock *k = ctx;
    const predictor_ops *pops = k->c.pops;
    double t0 = clock_now_s();
    if (job->begin) {
        pops->begin_iteration(k->c.pst);
        k->predict_s += clock_now_s() - t0;
        return;
    }
    const predictor_obs *obs = &job->obs;
    if (job->hidden)
        trace_round_stored(job->hidden, obs->num_tokens * (size_t)k->D);
    pops->observe(k->c.pst, obs);
    int target = obs->layer + k->c.offload->stride, ahead = target / k->L, got = 0;
    if (ahead <= 1) {
        k->pred.when = (job->step + ahead) * k->L + target % k->L;
        got = offload_engine_predict(k->oe, pops, k->c.pst, ahead, target % k->L,
                                     ahead ? 1 : (int)obs->num_tokens, &k->pred);
    }
    k->predict_s += clock_now_s() - t0;
    k->predictions++;
    if (got == 0)
        return;
    expert_store_lock(k->store);
    offload_engine_predicted(k->oe, &k->pred);
    offload_engine_prefetch(k->oe, &k->pred);
    expert_store_unlock(k->store);
}

int offload_clock_gate(offload_clock *k, const exec_routing *r, int32_t request,
                       int32_t position, promoe_err *err)
{
    size_t n = (size_t)r->tokens, K = (size_t)k->K;
    int16_t *ids = grow_array(k->ids, &k->ids_cap, n * K, sizeof *ids, 64);
    if (!ids)
        return promoe_err_set(err, "out of memory for a step of %zu tokens", n);
    k->ids = ids;
    for (size_t i = 0; i < n * K; i++)
        ids[i] = (int16_t)r->experts[i];
    expert_store_lock(k->store);
    expert_store_computed(k->store); /* the host has read the router's results */
    offload_engine_gate(k->oe, k->ids, r->weights, n, (size_t)k->K);
    k->released = 0;
    expert_store_unlock(k->store);
    return k->pt ? predictor_thread_observe(k->pt, k->step, r, request, position, err) : 0;
}

/* Index into pending of the expert to run next: the first in the
 * engine's order or, with reorder, the first of those ready (-1: none). */
static int choose(offload_clock *k, int layer, const int *experts, const int *pending, int n)
{
    int size = offload_engine_layer_size(k->oe);
    for (int i = 0; i < size; i++) {
        int key, tokens;
        offload_engine_layer_expert(k->oe, i, &key, &tokens);
        for (int j = 0; j < n; j++)
            if (layer * k->E + experts[pending[j]] == key &&
                (!k->c.offload->reorder || offload_engine_ready(k->oe, key)))
                return j;
    }
    return k->c.offload->reorder ? -1 : 0;
}

static int source_next(void *ctx, int layer, const int *experts, const int *pending, int n)
{
    offload_clock *k = ctx;
    promoe_err err;
    expert_store_lock(k->store);
    int j;
    double t0 = clock_now_s();
    while ((j = choose(k, layer, experts, pending, n)) < 0)
        if (expert_store_wait(k->store, &err) < 0) {
            j = 0; /* acquiring it reports the failed copy */
            break;
        }
    k->layer_waited_s += clock_now_s() - t0;
    expert_store_unlock(k->store);
    return j;
}

static const void *source_acquire(void *ctx, int layer, int expert, promoe_err *err)
{
    offload_clock *k = ctx;
    int key = layer * k->E + expert;
    const void *block = NULL;
    expert_store_lock(k->store);
    double t0 = clock_now_s();
    while (!offload_engine_ready(k->oe, key))
        if (expert_store_wait(k->store, err) < 0)
            goto out;
    block = expert_store_block(k->store, key);
out:
    k->layer_waited_s += clock_now_s() - t0;
    expert_store_unlock(k->store);
    return block;
}

/* An expert has run; after the layer's last, the next layer begins. */
static void source_release(void *ctx, int layer, int expert)
{
    offload_clock *k = ctx;
    expert_store_lock(k->store);
    expert_store_used(k->store, layer * k->E + expert);
    if (++k->released == offload_engine_layer_size(k->oe)) {
        offload_engine_layer_done(k->oe);
        double compute = clock_now_s() - k->layer_t0 - k->layer_waited_s;
        k->layer_s = k->layer_s > 0 ? 0.8 * k->layer_s + 0.2 * compute : compute;
        if (layer + 1 < k->L)
            begin_layer(k, k->step * k->L + layer + 1);
    }
    expert_store_unlock(k->store);
}

exec_expert_source offload_clock_source(offload_clock *k)
{
    return (exec_expert_source){source_next, source_acquire, source_release, k};
}

double offload_clock_waited_s(offload_clock *k)
{
    return expert_store_stats_of(k->store).wait_s;
}

void offload_clock_finish(offload_clock *k, offload_clock_stats *out)
{
    memset(out, 0, sizeof *out);
    if (k->pt)
        predictor_thread_drain(k->pt); /* its last predictions are the run's too */
    expert_store_lock(k->store);
    k->over = 1;
    offload_engine_finish(k->oe);
    out->counts = *offload_engine_counts(k->oe);
    out->digest = offload_engine_digest(k->oe);
    out->slots = offload_engine_capacity(k->oe);
    expert_store_unlock(k->store);
    out->store = expert_store_stats_of(k->store);
    out->predictions = k->predictions;
    out->predict_s = k->predict_s;
    out->predict_wait_s = k->pt ? predictor_thread_waited_s(k->pt) : 0;
}
