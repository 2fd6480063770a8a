#include "sim/engine.h"
#include "sim/layer_offload.h"
#include "sim/step_stats.h"

#include <stdlib.h>
#include <string.h>

#include "offload/cache.h"
#include "offload/next_use.h"
#include "sim/batcher.h"
#include "sim/copy_engine.h"
#include "sim/event_queue.h"
#include "traces/trace.h"

enum { EV_PREFETCH = 2, EV_CPU_DONE = 3 }; /* events besides the copy engine's */

/* STREAMED and ON_CPU_DONE are usable by the running layer only.  QUEUED:
 * a prefetch waiting for the copy engine, holding no GPU slot yet. */
enum expert_state { ABSENT, LOADING, READY, STREAMING, STREAMED, ON_CPU, ON_CPU_DONE, QUEUED };

/* Experts a prediction chose, waiting for the predictor's CPU time:
 * keys[0..count) to prefetch, then keys[count..predicted) those past the
 * prefetch limit that it makes more likely than not (predictor_expected). */
typedef struct prefetch_set {
    int64_t when;      /* the target's position, step * L + layer */
    int count, predicted;
    int *keys;
} prefetch_set;

typedef struct engine {
    const sim_config *cfg;
    sim_result *r;
    int L, E, K, limit;
    expert_cache *cache;
    copy_engine *ce;
    event_queue q;
    uint8_t *state, *from_prefetch;
    uint8_t *staged;       /* [key] held in a staging buffer, not in the cache */
    int64_t *prefetch_when; /* [key] the position a queued prefetch is for */
    /* [key] the target position of the last prediction that expected key
     * while resident: a prefetch for that position must not evict it */
    int64_t *claimed_for;
    int *claim_pins;       /* [E] scratch: the claimed keys pinned for a load */
    /* [key] the position whose access a prediction already counted for
     * the policy (using a resident expert, or loading it): the access at
     * that gate is then not counted again, so every access is one use
     * whether predicted or not */
    int64_t *used_for;
    int staging_free;
    int64_t *ready_ns;
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
    int *need, *need_count, n_need, *order;
    float *need_weight;    /* [n_need] the largest gate weight of a needed expert */
    double *scores;
    int *ranked;
    int64_t lowbit_chunk_ns;  /* a low-precision copy's chunks */
    double lowbit_chunk_bytes;
    /* predictions waiting for the predictor's CPU time, a FIFO ring: the CPU
     * runs one prediction at a time, so their events fire in queue order */
    prefetch_set *sets;
    int sets_cap, sets_head, sets_count;
    /* for offline policies: where each key is next demanded, positions
     * being step * L + layer */
    next_use uses;
    int64_t now_pos, iter_index;
    int64_t gated_pos;     /* the last position whose router has chosen */
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

static void evict(engine *e, int victim)
{
    if (victim < 0)
        return;
    if (e->from_prefetch[victim])
        e->r->prefetch_wasted++;
    e->from_prefetch[victim] = 0;
    e->state[victim] = ABSENT;
    e->r->evictions++;
}

/* A prediction withdrawn before it arrived: dropped, and so wasted. */
static void drop_prediction(engine *e, int key)
{
    e->state[key] = ABSENT;
    e->from_prefetch[key] = 0;
    e->r->prefetch_dropped++;
    e->r->prefetch_wasted++;
}

/* Loads a prefetched key into the cache without evicting an expert that
 * its own prediction expects in the target layer (replacing one needed
 * expert by another gains nothing): those are pinned meanwhile. */
static int load_unclaimed(engine *e, int key, int *victim)
{
    int layer = key / e->E, n = 0;
    int64_t when = e->prefetch_when[key];
    for (int k = layer * e->E; k < (layer + 1) * e->E; k++)
        if (k != key && e->claimed_for[k] == when && e->state[k] == READY && !e->staged[k]) {
            cache_pin(e->cache, k);
            e->claim_pins[n++] = k;
        }
    int loaded = cache_load(e->cache, key, victim);
    while (n > 0)
        cache_unpin(e->cache, e->claim_pins[--n]);
    return loaded;
}

/* The copy engine is about to copy a prefetch's first chunk: only now does
 * it need a slot, so a prefetch dropped while queued evicts nothing.  It is
 * not copied if its layer has chosen without it (stale) or there is no room:
 * every staging buffer full, or every cache slot pinned. */
static int on_copy_start(void *ctx, int key)
{
    engine *e = ctx;
    int victim;
    if (e->state[key] != QUEUED)
        return 1; /* a demand copy: its slot was taken when it was asked for */
    int stale = e->prefetch_when[key] <= e->gated_pos;
    if (!stale && e->cfg->offload.staging > 0 && e->staging_free > 0) {
        e->staging_free--;
        e->staged[key] = 1;
        e->state[key] = LOADING;
        return 1;
    }
    if (!stale && e->cfg->offload.staging == 0 && load_unclaimed(e, key, &victim)) {
        evict(e, victim);
        e->state[key] = LOADING;
        e->used_for[key] = e->prefetch_when[key];
        cache_pin(e->cache, key);
        return 1;
    }
    drop_prediction(e, key);
    return 0;
}

static void on_copy_done(engine *e, int key, int64_t t)
{
    if (e->state[key] == LOADING) {
        e->state[key] = READY;
        if (!e->staged[key])
            cache_unpin(e->cache, key); /* the pin that held the slot while filling */
    } else if (e->state[key] == STREAMING) {
        e->state[key] = STREAMED;
    }
    e->ready_ns[key] = t;
}

static int submit_prefetch_set(engine *e, int64_t now, const prefetch_set *s);

/* Handles one event. */
static int handle(engine *e, const sim_event *ev)
{
    if (ev->kind == COPY_EVENT_CHUNK_DONE) {
        int key = copy_engine_on_event(e->ce, &e->q, ev);
        if (key >= 0)
            on_copy_done(e, key, ev->time_ns);
        return 0;
    }
    if (ev->kind == EV_CPU_DONE) {
        e->state[ev->a] = ON_CPU_DONE;
        e->ready_ns[ev->a] = ev->time_ns;
        return 0;
    }
    prefetch_set *s = &e->sets[e->sets_head];
    e->sets_head = (e->sets_head + 1) % e->sets_cap;
    e->sets_count--;
    return submit_prefetch_set(e, ev->time_ns, s);
}

/* The free slot after the queued predictions (the ring grows, in order, when
 * full); NULL when out of memory. */
static prefetch_set *pending_tail(engine *e)
{
    if (e->sets_count == e->sets_cap) {
        int c = e->sets_cap ? 2 * e->sets_cap : 64;
        prefetch_set *p = calloc((size_t)c, sizeof *p);
        if (!p)
            return NULL;
        for (int i = 0; i < e->sets_cap; i++)
            p[i] = e->sets[(e->sets_head + i) % e->sets_cap];
        free(e->sets);
        e->sets = p;
        e->sets_cap = c;
        e->sets_head = 0;
    }
    prefetch_set *s = &e->sets[(e->sets_head + e->sets_count) % e->sets_cap];
    if (!s->keys && !(s->keys = malloc((size_t)e->E * sizeof *s->keys)))
        return NULL;
    return s;
}

static int run_until(engine *e, int64_t t)
{
    sim_event ev;
    while (event_queue_peek(&e->q) && event_queue_peek(&e->q)->time_ns <= t) {
        event_queue_pop(&e->q, &ev);
        if (handle(e, &ev) < 0)
            return -1;
    }
    return 0;
}

/* Runs events until key can be computed; returns the time it could. */
static int64_t wait_ready(engine *e, int key)
{
    sim_event ev;
    while (e->state[key] != READY && e->state[key] != STREAMED && e->state[key] != ON_CPU_DONE &&
           event_queue_pop(&e->q, &ev))
        handle(e, &ev);
    return e->ready_ns[key];
}

static int submit_prefetch_set(engine *e, int64_t now, const prefetch_set *s)
{
    if (s->when <= e->gated_pos)
        return 0; /* the target layer's router has chosen already: too late */
    /* the predicted experts already resident are claimed (and those
     * prefetched used) first, as a layer claims its resident experts
     * before its misses: the prefetches' copies must not evict them */
    for (int i = 0; i < s->predicted; i++) {
        int key = s->keys[i];
        if (e->state[key] != READY || e->staged[key])
            continue;
        e->claimed_for[key] = s->when;
        if (i < s->count && e->used_for[key] != s->when) {
            cache_use(e->cache, key); /* a queued prefetch counts as the access */
            e->used_for[key] = s->when;
        }
    }
    for (int i = 0; i < s->count; i++) {
        int key = s->keys[i];
        if (e->state[key] != ABSENT)
            continue;
        e->state[key] = QUEUED; /* its slot is taken when its copy starts */
        e->from_prefetch[key] = 1;
        e->prefetch_when[key] = s->when;
        /* LOW tasks go lowest layer first; positions fit an int for any
         * trace a reader accepts (steps * layers < 2^31) */
        copy_engine_submit(e->ce, &e->q, now, key, COPY_LOW, (int)s->when);
        e->r->prefetch_issued++;
    }
    return 0;
}

static int in_set(const prefetch_set *s, int key)
{
    for (int i = 0; i < s->count; i++)
        if (s->keys[i] == key)
            return 1;
    return 0;
}

/* Asks the predictor about layer `target` (counted from the start of the
 * current iteration) and schedules the prefetch after its CPU time. */
static int predict_and_schedule(engine *e, int target)
{
    int ahead = target / e->L, layer = target % e->L;
    if (ahead > 1 || (ahead == 1 && !e->it[1 - e->cur].valid))
        return 0;
    int n = predictor_pick(e->pops, e->pst, ahead, layer, e->E, e->K, e->limit,
                           e->cfg->offload.prefetch_min_prob, e->scores, e->ranked);
    if (n == 0)
        return 0;
    prefetch_set *s = pending_tail(e);
    if (!s)
        return -1;
    s->when = (e->iter_index + ahead) * e->L + layer;
    s->count = n;
    for (int i = 0; i < n; i++) {
        s->keys[i] = layer * e->E + e->ranked[i];
        cache_hint(e->cache, s->keys[i], s->when);
    }
    s->predicted = n;
    int tokens = (int)e->it[ahead == 0 ? e->cur : 1 - e->cur].n;
    int expected = predictor_expected(e->scores, e->E, e->K, tokens, e->ranked);
    for (int i = 0; i < expected; i++)
        if (!in_set(s, layer * e->E + e->ranked[i]))
            s->keys[s->predicted++] = layer * e->E + e->ranked[i];
    /* the predictor runs on the CPU, one call after another */
    int64_t start = e->cpu_free_ns > e->gpu_ns ? e->cpu_free_ns : e->gpu_ns;
    e->cpu_free_ns = start + sim_ns(cost_prediction_s(&e->cfg->cost, e->cfg->offload.predictor_us * 1e-6,
                                                      e->pinfo.flops, e->pinfo.bytes,
                                                      (double)e->it[e->cur].n));
    if (e->cpu_free_ns == e->gpu_ns) /* no CPU time: submit now */
        return submit_prefetch_set(e, e->gpu_ns, s);
    e->sets_count++;
    return event_queue_push(&e->q, e->cpu_free_ns, EV_PREFETCH, 0, 0);
}

/* Gathers the union of one layer's experts with token counts. */
static void gather(engine *e, const step_buf *b, int layer)
{
    e->n_need = 0;
    for (size_t t = 0; t < b->n; t++) {
        const int16_t *row = b->experts + (t * (size_t)e->L + (size_t)layer) * (size_t)e->K;
        for (int k = 0; k < e->K; k++) {
            if (row[k] < 0)
                continue;
            int key = layer * e->E + row[k], j;
            for (j = 0; j < e->n_need && e->need[j] != key; j++)
                ;
            if (j == e->n_need) {
                e->need[e->n_need] = key;
                e->need_weight[e->n_need] = 0;
                e->need_count[e->n_need++] = 0;
            }
            e->need_count[j]++;
            if (b->weights) {
                float w = b->weights[(t * (size_t)e->L + (size_t)layer) * (size_t)e->K + (size_t)k];
                e->need_weight[j] = w > e->need_weight[j] ? w : e->need_weight[j];
            }
        }
    }
}

/* The paper's reordering classes: resident (0), being copied (1), partly
 * copied (2), not started (3).  With our copy engine class 2 is rare at a
 * gate: a preempted prefetch goes back to the front of LOW (predictions
 * are ranked by position, so it is also the lowest layer) and resumes as
 * soon as the HIGH copies before it end, and a layer's compute waits for
 * all of its own HIGH copies; so at the next gate a partly copied expert
 * is the one in flight (class 1) unless the CPU computed a miss instead. */
static int load_class(const engine *e, int key)
{
    uint8_t s = e->state[key];
    if (s == READY || s == STREAMED || s == ON_CPU_DONE)
        return 0;
    if (copy_engine_in_flight(e->ce) == key)
        return 1;
    return copy_engine_chunks_done(e->ce, key) > 0 ? 2 : 3;
}

/* With reordering, the layer's experts are demanded (so their HIGH copies
 * queued) and computed in class order, each class in the order the tokens
 * chose them (a stable insertion sort: a layer needs at most E experts). */
static void sort_by_load_class(engine *e)
{
    for (int i = 1; i < e->n_need; i++) {
        int key = e->need[i], count = e->need_count[i], cls = load_class(e, key), j = i;
        float weight = e->need_weight[i];
        for (; j > 0 && load_class(e, e->need[j - 1]) > cls; j--) {
            e->need[j] = e->need[j - 1];
            e->need_count[j] = e->need_count[j - 1];
            e->need_weight[j] = e->need_weight[j - 1];
        }
        e->need[j] = key;
        e->need_count[j] = count;
        e->need_weight[j] = weight;
    }
}

/* Computes the missed expert on the CPU, always or (Fiddler's choice) if
 * that ends before a demand copy would; returns 1 if it does. */
static int try_cpu(engine *e, int key, int tokens)
{
    const cost_model *c = &e->cfg->cost;
    int64_t act = sim_ns(cost_transfer_s(c, (double)tokens * c->model.hidden_size * 2));
    int64_t start = e->cpu_free_ns > e->gpu_ns ? e->cpu_free_ns : e->gpu_ns;
    int64_t done = start + act + sim_ns(cost_expert_cpu_s(c, tokens)) + act;
    if (e->cfg->offload.cpu_compute == CPU_COMPUTE_SOONER &&
        done >= copy_engine_estimate_high_done(e->ce, e->gpu_ns))
        return 0;
    e->cpu_free_ns = done - act;
    e->state[key] = ON_CPU;
    e->r->cpu_computed++;
    return event_queue_push(&e->q, done, EV_CPU_DONE, key, 0) == 0;
}

/* A staged prefetch is used: its buffer joins the cache and the victim's
 * slot (or a free one) becomes the staging buffer, so nothing is copied.
 * With every slot pinned it serves this layer only, from its buffer. */
static void adopt_staged(engine *e, int key)
{
    int victim;
    if (!cache_load(e->cache, key, &victim)) {
        e->state[key] = e->state[key] == READY ? STREAMED : STREAMING;
        return;
    }
    evict(e, victim);
    e->staged[key] = 0;
    e->staging_free++;
    if (e->state[key] == LOADING)
        cache_pin(e->cache, key); /* the pin that holds the slot while filling */
}

/* Frees the staging buffer of key (a prediction not used, or used once). */
static void release_staged(engine *e, int key)
{
    e->staged[key] = 0;
    e->staging_free++;
    e->state[key] = ABSENT;
}

/* A demanded expert's slot (evicting a victim), or, with every slot
 * pinned, a scratch buffer it is copied to and used from once. */
static void take_slot(engine *e, int key)
{
    int victim;
    if (cache_load(e->cache, key, &victim)) {
        evict(e, victim);
        e->state[key] = LOADING;
        cache_pin(e->cache, key);
    } else {
        e->r->uncached++;
        e->state[key] = STREAMING;
    }
}

/* A resident expert is accessed at the gate, unless its prediction
 * counted this access already. */
static void use(engine *e, int key)
{
    if (e->used_for[key] != e->now_pos)
        cache_use(e->cache, key);
}

static void demand(engine *e, int key, int tokens, float weight)
{
    sim_result *r = e->r;
    r->demands++;
    r->expert_computations += tokens;
    if (e->staged[key])
        adopt_staged(e, key);
    if (e->state[key] == STREAMED && e->staged[key]) {
        r->hits++; /* arrived in time in its staging buffer */
        r->prefetch_useful++;
    } else if (e->state[key] == STREAMING && e->staged[key]) {
        r->late_hits++;
        r->prefetch_late++;
        r->prefetch_useful++;
        copy_engine_promote(e->ce, key);
    } else if (e->state[key] == READY) {
        r->hits++;
        use(e, key);
        r->prefetch_useful += e->from_prefetch[key];
    } else if (e->state[key] == LOADING) {
        r->late_hits++;
        r->prefetch_late += e->from_prefetch[key];
        r->prefetch_useful += e->from_prefetch[key];
        use(e, key);
        copy_engine_promote(e->ce, key);
    } else if (e->state[key] == QUEUED) {
        /* predicted, but its copy has not started: a miss that takes over
         * the queued task as a demand */
        r->misses++;
        r->prefetch_late++;
        r->prefetch_useful++;
        take_slot(e, key);
        copy_engine_promote(e->ce, key);
    } else {
        r->misses++;
        if (e->cfg->offload.cpu_compute && try_cpu(e, key, tokens)) {
            e->from_prefetch[key] = 0;
            return; /* computed where it lives: nothing to pin */
        }
        if (weight < e->cfg->offload.lowbit_weight) {
            /* unimportant for these tokens: a low-precision copy, used once */
            r->lowbit_loads++;
            r->lowbit_computations += tokens;
            e->state[key] = STREAMING;
            e->from_prefetch[key] = 0;
            copy_engine_submit_sized(e->ce, &e->q, e->gpu_ns, key, COPY_HIGH, 0, e->lowbit_chunk_ns,
                                     e->lowbit_chunk_bytes);
            return;
        }
        take_slot(e, key);
        copy_engine_submit(e->ce, &e->q, e->gpu_ns, key, COPY_HIGH, 0);
    }
    e->from_prefetch[key] = 0;
    if (e->state[key] != STREAMING && e->state[key] != STREAMED)
        cache_pin(e->cache, key); /* in use by the running layer */
}

/* Claims the layer's experts: the resident ones first, so that the
 * layer's misses cannot evict an expert it is about to use (as a real
 * system pins a layer's experts before it loads any); the rest in order. */
static void demand_layer(engine *e)
{
    for (int i = 0; i < e->n_need; i++) /* e->order is free until compute_experts */
        e->order[i] = load_class(e, e->need[i]) == 0;
    for (int resident = 1; resident >= 0; resident--)
        for (int i = 0; i < e->n_need; i++)
            if (e->order[i] == resident)
                demand(e, e->need[i], e->need_count[i], e->need_weight[i]);
}

/* Once the router of `layer` has chosen, its predictions not chosen are
 * retired: arrived ones free their staging buffers and, with early
 * preemption, queued or copying ones are withdrawn and their slots freed
 * (a chunk in flight still ends). */
static void retire_unchosen(engine *e, int layer)
{
    for (int x = 0; x < e->E; x++) {
        int key = layer * e->E + x;
        if (e->staged[key] && e->state[key] == READY) {
            release_staged(e, key); /* arrived, but not chosen */
            e->r->prefetch_wasted += e->from_prefetch[key];
            e->from_prefetch[key] = 0;
            continue;
        }
        if (!e->cfg->offload.preempt || (e->state[key] != LOADING && e->state[key] != QUEUED) ||
            !e->from_prefetch[key] || !copy_engine_drop(e->ce, key))
            continue;
        if (e->staged[key])
            release_staged(e, key); /* the next copy starts after this chunk anyway */
        else if (e->state[key] == LOADING) {
            cache_unpin(e->cache, key); /* the pin that held the slot while filling */
            cache_drop(e->cache, key);
        }
        drop_prediction(e, key);
    }
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
        uint8_t s = e->state[e->need[e->order[i]]];
        if (s == READY || s == STREAMED || s == ON_CPU_DONE)
            return i;
    }
    return -1;
}

/* Computes the layer's experts in order or, with reorder, whichever can
 * run first, waiting for copies as needed. */
static void compute_experts(engine *e)
{
    int left = e->n_need;
    for (int i = 0; i < e->n_need; i++)
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
        int idx = e->order[pick];
        stall_until(e, wait_ready(e, e->need[idx]));
        if (e->state[e->need[idx]] != ON_CPU_DONE) /* else the CPU computed it */
            e->gpu_ns += sim_ns(cost_expert_s(&e->cfg->cost, e->need_count[idx]));
        memmove(&e->order[pick], &e->order[pick + 1], (size_t)(left - pick - 1) * sizeof(int));
        left--;
    }
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
    e->pops->begin_iteration(e->pst);
    for (int l = 0; l < e->L; l++) {
        e->now_pos = e->iter_index * e->L + l;
        e->gpu_ns += att + router;
        if (run_until(e, e->gpu_ns) < 0)
            return -1;
        gather(e, b, l);
        if (e->cfg->offload.reorder)
            sort_by_load_class(e);
        demand_layer(e);
        e->gated_pos = e->now_pos;
        retire_unchosen(e, l);
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
        for (int i = 0; i < e->n_need; i++) {
            int key = e->need[i];
            if (e->staged[key])
                release_staged(e, key);
            else if (e->state[key] == STREAMED || e->state[key] == ON_CPU_DONE)
                e->state[key] = ABSENT;
            else
                cache_unpin(e->cache, key);
        }
    }
    step_stats_record(&e->stats, e->r, b, e->gpu_ns - start, e->r->gpu_stall_ns - stalled_before);
    e->iter_index++;
    return 0;
}

/* Position of the next demand for key from the current layer on (a key
 * the running layer still needs reads as used now). */
static int64_t next_demand(void *ctx, int key)
{
    engine *e = ctx;
    return next_use_from(&e->uses, key, e->now_pos);
}

/* Two passes over the steps the engine will run (the same batcher): count
 * each key's demands, then list them. */
static int build_use_index(engine *e, const char *path, promoe_err *err)
{
    size_t keys = (size_t)e->L * (size_t)e->E, lk = (size_t)e->L * (size_t)e->K;
    int64_t *seen = malloc(keys * sizeof *seen); /* last position listed, per key */
    if (!seen || next_use_init(&e->uses, (int)keys) < 0) {
        free(seen);
        return promoe_err_set(err, "out of memory for the next-use index");
    }
    for (int pass = 0; pass < 2; pass++) {
        trace_reader *r = trace_reader_open(path, 0, err);
        batcher *bt = r ? batcher_create(r, e->cfg->batch > 0 ? e->cfg->batch : 1, err) : NULL;
        if (!bt) {
            trace_reader_close(r);
            free(seen);
            return -1;
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
                if (pass == 0)
                    next_use_count(&e->uses, key);
                else
                    next_use_add(&e->uses, key, pos);
            }
            iter++;
        }
        step_buf_free(&step);
        batcher_free(bt);
        trace_reader_close(r);
        if (got < 0 || (pass == 0 && next_use_layout(&e->uses) < 0)) {
            free(seen);
            return got < 0 ? -1 : promoe_err_set(err, "out of memory for the next-use index");
        }
    }
    free(seen);
    next_use_ready(&e->uses);
    e->now_pos = -1;
    return 0;
}

static void engine_free(engine *e)
{
    cache_free(e->cache);
    copy_engine_free(e->ce);
    event_queue_free(&e->q);
    if (e->pst)
        e->pops->destroy(e->pst);
    free(e->state);
    free(e->from_prefetch);
    free(e->staged);
    free(e->prefetch_when);
    free(e->claimed_for);
    free(e->claim_pins);
    free(e->used_for);
    free(e->ready_ns);
    step_buf_free(&e->it[0]);
    step_buf_free(&e->it[1]);
    predictor_obs_buf_free(&e->future_buf[0]);
    predictor_obs_buf_free(&e->future_buf[1]);
    predictor_obs_buf_free(&e->obs_buf);
    free(e->need);
    free(e->need_count);
    free(e->need_weight);
    free(e->order);
    free(e->scores);
    free(e->ranked);
    for (int i = 0; i < e->sets_cap; i++)
        free(e->sets[i].keys);
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
    memset(e, 0, sizeof *e);
    e->gated_pos = -1;
    e->cfg = cfg;
    e->D = m->hidden_dim;
    e->r = r;
    e->L = m->num_layers;
    e->E = m->num_experts;
    e->K = m->top_k;
    event_queue_init(&e->q);
    if (cfg->offload.stride < 1)
        return promoe_err_set(err, "stride %d must be at least 1", cfg->offload.stride);
    if (cfg->offload.chunks < 1 || cfg->offload.chunks > 1024)
        return promoe_err_set(err, "chunks per expert %d must be in [1, 1024]", cfg->offload.chunks);
    e->pops = cfg->offload.predictor_ops ? cfg->offload.predictor_ops : predictor_find(cfg->offload.predictor);
    if (!e->pops)
        return promoe_err_set(err, "unknown predictor '%s' (predictors: %s)", cfg->offload.predictor,
                              predictor_names());
    size_t keys = (size_t)e->L * (size_t)e->E;
    if (cfg->offload.staging < 0 || cfg->offload.staging >= cfg->offload.slots)
        return promoe_err_set(err, "%d staging buffers leave no cache slot of %lld (use fewer)",
                              cfg->offload.staging, (long long)cfg->offload.slots);
    e->staging_free = cfg->offload.staging;
    cache_config cc = {.num_layers = e->L, .num_experts = e->E, .slots = cfg->offload.slots - cfg->offload.staging,
                       .per_layer = cfg->offload.per_layer, .policy = cfg->offload.policy,
                       .policy_options = cfg->offload.policy_options, .clock = &e->now_pos};
    const cache_policy_ops *pol = policy_find(cfg->offload.policy);
    if (pol && pol->needs_future) {
        if (build_use_index(e, path, err) < 0)
            return -1;
        e->policy_future = (policy_future){next_demand, e};
        cc.future = &e->policy_future;
    }
    if (!(e->cache = cache_create(&cc, err)))
        return -1;
    r->slots = cache_capacity(e->cache);
    double bytes = (double)model_expert_bytes(&cfg->cost.model);
    double chunk_bytes = bytes / cfg->offload.chunks;
    e->ce = copy_engine_create((int)keys, cfg->offload.chunks, chunk_ns(cfg, chunk_bytes), chunk_bytes,
                               cfg->offload.preempt);
    if (e->ce)
        copy_engine_set_start_hook(e->ce, on_copy_start, e);
    e->lowbit_chunk_bytes = chunk_bytes * cfg->offload.lowbit_ratio;
    e->lowbit_chunk_ns = chunk_ns(cfg, e->lowbit_chunk_bytes);
    if (cfg->offload.lowbit_weight > 0 && !(m->content & TRACE_WEIGHTS))
        return promoe_err_set(err, "low-precision loads on a miss choose by gate weight: %s has "
                              "no routing/weights (record or import them, or drop "
                              "--lowbit-on-miss)", path);
    if (cfg->offload.lowbit_weight > 0 && !(cfg->offload.lowbit_ratio > 0 && cfg->offload.lowbit_ratio <= 1))
        return promoe_err_set(err, "low-precision byte ratio %g must be in (0, 1]",
                              cfg->offload.lowbit_ratio);
    e->state = calloc(keys, 1);
    e->from_prefetch = calloc(keys, 1);
    e->staged = calloc(keys, 1);
    e->prefetch_when = calloc(keys, sizeof *e->prefetch_when);
    e->claimed_for = malloc(keys * sizeof *e->claimed_for);
    e->claim_pins = malloc((size_t)e->E * sizeof *e->claim_pins);
    e->used_for = malloc(keys * sizeof *e->used_for);
    e->ready_ns = calloc(keys, sizeof *e->ready_ns);
    e->need = malloc(keys * sizeof *e->need);
    e->need_count = malloc(keys * sizeof *e->need_count);
    e->need_weight = malloc(keys * sizeof *e->need_weight);
    e->order = malloc(keys * sizeof *e->order);
    e->scores = malloc((size_t)e->E * sizeof *e->scores);
    e->ranked = malloc((size_t)e->E * sizeof *e->ranked);
    int have_stats = step_stats_init(&e->stats) == 0;
    if (!have_stats || !e->ce || !e->state || !e->from_prefetch || !e->staged || !e->prefetch_when || !e->claimed_for || !e->claim_pins || !e->used_for || !e->ready_ns || !e->need || !e->need_count || !e->need_weight ||
        !e->order || !e->scores || !e->ranked)
        return promoe_err_set(err, "out of memory");
    e->limit = cfg->offload.prefetch_limit > 0 ? cfg->offload.prefetch_limit : e->K;
    for (size_t k = 0; k < keys; k++)
        e->claimed_for[k] = e->used_for[k] = -1;
    e->future = (predictor_future){future_experts, e};
    predictor_env penv = {.stride_lo = cfg->offload.stride, .stride_hi = cfg->offload.stride,
                          .seed = cfg->seed,
                          .future = e->pops->needs_future ? &e->future : NULL};
    if (!(e->pst = predictor_create_for_trace(e->pops, cfg->offload.predictor_options, rd, path, &penv,
                                              err)))
        return -1;
    e->pinfo = predictor_get_info(e->pops, e->pst);
    /* a policy's fixed set (static) is loaded before serving starts */
    int n_initial = cache_preload(e->cache, e->need);
    for (int i = 0; i < n_initial; i++)
        e->state[e->need[i]] = READY;
    if (cfg->offload.preload) {
        if (cfg->offload.slots < (int64_t)keys)
            return promoe_err_set(err, "a preloaded cache must hold every expert (%zu)", keys);
        for (size_t k = 0; k < keys; k++) {
            int victim;
            cache_load(e->cache, (int)k, &victim);
            e->state[k] = READY;
        }
    }
    return 0;
}

static void finish(engine *e, sim_result *r)
{
    /* prefetched experts never used by the end count as wasted */
    for (int k = 0; k < e->L * e->E; k++)
        r->prefetch_wasted += e->from_prefetch[k];
    const copy_stats *cs = copy_engine_stats(e->ce);
    r->pcie_bytes = cs->bytes;
    r->pcie_busy_ns = cs->busy_ns;
    r->preemptions = cs->preemptions;
    r->total_ns = e->gpu_ns;
    r->lowbit_share = r->expert_computations
                          ? (double)r->lowbit_computations / (double)r->expert_computations
                          : 0;
    int64_t timely = r->prefetch_useful - r->prefetch_late;
    r->prefetch_accuracy = r->prefetch_issued ? (double)r->prefetch_useful / (double)r->prefetch_issued : 0;
    r->prefetch_fetch_rate = r->prefetch_useful ? (double)timely / (double)r->prefetch_useful : 0;
    r->goodpred = r->prefetch_issued ? (double)timely / (double)r->prefetch_issued : 0;
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
