#include "offload/engine.h"

#include <stdlib.h>
#include <string.h>

#include "common/fnv1a.h"
#include "offload/cache.h"
#include "offload/copy_queue.h"
#include "offload/event_log.h"

/* STREAMED and ON_CPU_DONE are usable by the running layer only.  QUEUED:
 * a prefetch waiting for its copy to start, holding no GPU slot yet. */
enum expert_state { ABSENT, LOADING, READY, STREAMING, STREAMED, ON_CPU, ON_CPU_DONE, QUEUED };

struct offload_engine {
    const offload_config *c;
    offload_clock_ops ops;
    int L, E, K, limit;
    int decode;             /* the running steps are decode steps */
    expert_cache *cache;
    uint8_t *state, *from_prefetch;
    uint8_t *on_reach;      /* [key] a miss whose copy waits for its turn (load_on_reach) */
    uint8_t *staged;        /* [key] held in a staging buffer, not in the cache */
    int64_t *prefetch_when; /* [key] the position a queued prefetch is for */
    /* [key] the target position of the last prediction that expected key
     * while resident: a prefetch for that position must not evict it */
    int64_t *claimed_for;
    int *claim_pins;        /* [E] scratch: the claimed keys pinned for a load */
    /* [key] the position whose access a prediction already counted for
     * the policy (using a resident expert, or loading it): the access at
     * that gate is then not counted again, so every access is one use
     * whether predicted or not */
    int64_t *used_for;
    int staging_free;
    /* [key] the position at which key was evicted, or -1, and by whom
     * (1: a prefetch, 0: a demand); per evictor, the evictions and the
     * regrets, those whose key was demanded again within a step:
     * prefetch_by_gain weighs a prefetch's eviction by their ratios */
    int64_t *victim_at;
    uint8_t *victim_of_prefetch;
    int64_t victims[2], regrets[2];
    /* [key] the target position of key's prefetch issued (-1: none) and
     * its chance; at that target's gate the chances claimed add to
     * `claimed` and those chosen to `right`: prefetch_by_gain scales a
     * chance by right / claimed, so an overconfident predictor is believed
     * as far as it has been right */
    int64_t *issued_for;
    int *issued_chance;
    double claimed, right;
    /* demand copies per gate, a running mean for each phase (prefill,
     * decode) over about the last MISS_MEMORY gates: the link time the
     * layers ahead will take before a prefetch (offload_lead) */
    double misses_per_gate[2];
    /* the running layer's experts: key, tokens, largest gate weight */
    int *need, *need_count, n_need;
    float *need_weight;
    uint8_t *resident;      /* [n_need] scratch: claimed first */
    double *scores;
    int *ranked;
    int64_t now_pos;        /* the layer begun */
    int64_t gated_pos;      /* the last position whose router has chosen */
    offload_counts n;
    uint64_t digest;        /* FNV-1a over every decision, in order */
    offload_log *log;       /* events and questions recorded, or NULL */
};

enum { MISS_MEMORY = 8 };

enum { NOTE_DEMAND, NOTE_EVICT, NOTE_DROP, NOTE_PREFETCH, NOTE_START, NOTE_DECLINE };

/* A decision, into the digest. */
static void note(offload_engine *e, int what, int key, int detail)
{
    int32_t v[3] = {what, key, detail};
    e->digest = fnv1a(e->digest, v, sizeof v);
}

static void record(offload_engine *e, int kind, const int64_t *words, size_t n)
{
    if (e->log)
        offload_log_put(e->log, kind, words, n);
}

/* The clock's answer to a question, recorded after what it set off. */
static int64_t answered(offload_engine *e, int64_t answer)
{
    record(e, LOG_ANSWER, &answer, 1);
    return answer;
}

/* The questions the engine asks its clock, each recorded with its answer. */
static void ask_copy(offload_engine *e, int key, int priority, int64_t order, int lowbit)
{
    int64_t w[4] = {key, priority, order, lowbit};
    record(e, LOG_ASK_COPY, w, 4);
    e->ops.copy(e->ops.ctx, key, priority, order, lowbit);
    answered(e, 0);
}

static void ask_promote(offload_engine *e, int key)
{
    int64_t w = key;
    record(e, LOG_ASK_PROMOTE, &w, 1);
    e->ops.promote(e->ops.ctx, key);
    answered(e, 0);
}

static int ask_drop(offload_engine *e, int key)
{
    int64_t w = key;
    record(e, LOG_ASK_DROP, &w, 1);
    return (int)answered(e, e->ops.drop(e->ops.ctx, key));
}

static int ask_in_flight(offload_engine *e)
{
    record(e, LOG_ASK_IN_FLIGHT, NULL, 0);
    return (int)answered(e, e->ops.in_flight(e->ops.ctx));
}

static int ask_chunks_done(offload_engine *e, int key)
{
    int64_t w = key;
    record(e, LOG_ASK_CHUNKS, &w, 1);
    return (int)answered(e, e->ops.chunks_done(e->ops.ctx, key));
}

static int ask_cpu_compute(offload_engine *e, int key, int tokens)
{
    int64_t w[2] = {key, tokens};
    record(e, LOG_ASK_CPU, w, 2);
    return (int)answered(e, e->ops.cpu_compute(e->ops.ctx, key, tokens));
}

static int64_t ask_slack(offload_engine *e, int64_t when)
{
    record(e, LOG_ASK_SLACK, &when, 1);
    return answered(e, e->ops.slack(e->ops.ctx, when));
}

/* key has taken victim's slot (-1: a free one): the clock is told. */
static void placed(offload_engine *e, int key, int victim)
{
    if (e->ops.place)
        e->ops.place(e->ops.ctx, key, victim);
}

static void evict(offload_engine *e, int victim)
{
    if (victim < 0)
        return;
    note(e, NOTE_EVICT, victim, 0);
    if (e->from_prefetch[victim])
        e->n.prefetch_wasted++;
    e->from_prefetch[victim] = 0;
    e->state[victim] = ABSENT;
    e->n.evictions++;
}

/* victim (-1: none) was evicted for a prefetch (1) or a demand (0). */
static void evicted_by(offload_engine *e, int victim, int prefetch)
{
    if (victim < 0)
        return;
    e->victim_at[victim] = e->now_pos;
    e->victim_of_prefetch[victim] = (uint8_t)prefetch;
    e->victims[prefetch]++;
}

/* The share of evictions by a prefetch (1) or a demand (0) whose victim
 * was wanted back within a step, from 1 in 4 before any is seen. */
static double regret(const offload_engine *e, int prefetch)
{
    return (double)(e->regrets[prefetch] + 1) / (double)(e->victims[prefetch] + 4);
}

/* A prediction withdrawn before it arrived: dropped, and so wasted. */
static void drop_prediction(offload_engine *e, int key)
{
    note(e, NOTE_DROP, key, 0);
    e->state[key] = ABSENT;
    e->from_prefetch[key] = 0;
    e->n.prefetch_dropped++;
    e->n.prefetch_wasted++;
}

/* Loads a prefetched key into the cache without evicting an expert that
 * its own prediction expects in the target layer (replacing one needed
 * expert by another gains nothing): those are pinned meanwhile. */
static int load_unclaimed(offload_engine *e, int key, int *victim)
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

int offload_engine_copy_start(offload_engine *e, int key)
{
    int64_t w = key;
    record(e, LOG_COPY_START, &w, 1);
    note(e, NOTE_START, key, e->state[key]);
    int victim;
    if (e->state[key] != QUEUED)
        return 1; /* a demand copy: its slot was taken when it was asked for */
    int stale = e->prefetch_when[key] <= e->gated_pos;
    if (!stale && e->c->staging > 0 && e->staging_free > 0) {
        e->staging_free--;
        e->staged[key] = 1;
        e->state[key] = LOADING;
        return 1;
    }
    if (!stale && e->c->staging == 0 && load_unclaimed(e, key, &victim)) {
        placed(e, key, victim);
        evict(e, victim);
        evicted_by(e, victim, 1);
        e->state[key] = LOADING;
        e->used_for[key] = e->prefetch_when[key];
        cache_pin(e->cache, key);
        return 1;
    }
    drop_prediction(e, key);
    return 0;
}

void offload_engine_copy_done(offload_engine *e, int key)
{
    int64_t w = key;
    record(e, LOG_COPY_DONE, &w, 1);
    if (e->state[key] == LOADING) {
        e->state[key] = READY;
        if (!e->staged[key])
            cache_unpin(e->cache, key); /* the pin that held the slot while filling */
    } else if (e->state[key] == STREAMING) {
        e->state[key] = STREAMED;
    }
}

void offload_engine_cpu_done(offload_engine *e, int key)
{
    int64_t w = key;
    record(e, LOG_CPU_DONE, &w, 1);
    e->state[key] = ON_CPU_DONE;
}

/* A prediction's words: when, count, predicted, keys. */
static void record_prediction(offload_engine *e, int kind, const offload_prediction *p)
{
    if (!e->log)
        return;
    size_t n = 3 + (size_t)p->predicted + (size_t)p->count;
    int64_t *w = malloc(n * sizeof *w);
    if (!w) {
        e->log->failed = 1;
        return;
    }
    w[0] = p->when;
    w[1] = p->count;
    w[2] = p->predicted;
    for (int i = 0; i < p->predicted; i++)
        w[3 + i] = p->keys[i];
    for (int i = 0; i < p->count; i++)
        w[3 + p->predicted + i] = p->chance[i];
    offload_log_put(e->log, kind, w, n);
    free(w);
}

static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

/* prefetch_by_gain's rule (offload/engine.h): a prefetch of this chance,
 * its copy ending slack_milli thousandths of a copy before its gate. */
static int worth_prefetching(const offload_engine *e, int chance, int64_t slack_milli)
{
    double q = clamp01((double)chance / OFFLOAD_CHANCE_ONE * (e->right + 1) / (e->claimed + 1));
    double slack = (double)slack_milli / 1000;
    double gain = clamp01(1 + slack), in_the_way = clamp01(-slack);
    if (e->c->preempt)
        in_the_way /= e->c->chunks > 1 ? e->c->chunks : 1;
    /* staged, a prefetch evicts nothing; a right one evicts where its
     * demand would have, but not the victim a demand would have chosen */
    double evict_if_wrong = 0, evict_if_right = 0;
    if (e->c->staging == 0) {
        evict_if_wrong = regret(e, 1);
        evict_if_right = clamp01(regret(e, 1) - regret(e, 0));
    }
    return q * gain > (1 - q) * (in_the_way + evict_if_wrong) + q * evict_if_right;
}

void offload_engine_prefetch(offload_engine *e, const offload_prediction *p)
{
    record_prediction(e, LOG_PREFETCH, p);
    if (p->when <= e->gated_pos)
        return; /* the target layer's router has chosen already: too late */
    /* the predicted experts already resident are claimed (and those
     * prefetched used) first, as a layer claims its resident experts
     * before its misses: the prefetches' copies must not evict them */
    for (int i = 0; i < p->predicted; i++) {
        int key = p->keys[i];
        if (e->state[key] != READY || e->staged[key])
            continue;
        e->claimed_for[key] = p->when;
        if (i < p->count && e->used_for[key] != p->when) {
            cache_use(e->cache, key); /* a queued prefetch counts as the access */
            e->used_for[key] = p->when;
        }
    }
    int64_t slack = p->count > 0 && e->c->prefetch_by_gain ? ask_slack(e, p->when) : 0;
    for (int i = 0; i < p->count; i++) {
        int key = p->keys[i];
        if (e->state[key] != ABSENT)
            continue;
        if (e->c->prefetch_by_gain) {
            if (!worth_prefetching(e, p->chance[i], slack)) {
                e->n.prefetch_declined++;
                note(e, NOTE_DECLINE, key, 0);
                continue;
            }
            slack -= 1000; /* the next one waits for this one's copy */
            e->issued_for[key] = p->when;
            e->issued_chance[key] = p->chance[i];
        }
        e->state[key] = QUEUED; /* its slot is taken when its copy starts */
        e->from_prefetch[key] = 1;
        e->prefetch_when[key] = p->when;
        e->n.prefetch_issued++;
        note(e, NOTE_PREFETCH, key, 0);
        ask_copy(e, key, COPY_LOW, p->when, 0); /* LOW: lowest layer first */
    }
}

int64_t offload_lead_slack(const offload_lead *l)
{
    double end = l->layer_end;
    if (l->demands_done > l->now && l->demands_done + l->expert > end)
        end = l->demands_done + l->expert;
    double taken = l->misses * l->copy < l->layer ? l->misses * l->copy : l->layer;
    double gate = end + (double)l->layers_between * (l->layer - taken) + l->to_gate;
    return (int64_t)((gate - l->copy_done) * 1000 / l->copy);
}

int offload_prediction_alloc(offload_prediction *p, int E)
{
    *p = (offload_prediction){.keys = malloc((size_t)E * sizeof *p->keys),
                              .chance = malloc((size_t)E * sizeof *p->chance)};
    if (p->keys && p->chance)
        return 0;
    offload_prediction_free(p);
    return -1;
}

void offload_prediction_free(offload_prediction *p)
{
    free(p->keys);
    free(p->chance);
    p->keys = p->chance = NULL;
}

static int in_prediction(const offload_prediction *p, int key)
{
    for (int i = 0; i < p->count; i++)
        if (p->keys[i] == key)
            return 1;
    return 0;
}

int offload_engine_predict(offload_engine *e, const predictor_ops *pops, void *pst, int ahead,
                           int layer, int tokens, offload_prediction *p)
{
    int n = predictor_pick(pops, pst, ahead, layer, e->E, e->K, e->limit,
                           e->c->prefetch_min_prob, e->scores, e->ranked);
    p->count = p->predicted = n;
    if (n == 0)
        return 0;
    double total = predictor_score_total(e->scores, e->E);
    for (int i = 0; i < n; i++) {
        p->keys[i] = layer * e->E + e->ranked[i];
        double q = predictor_chance(e->scores[e->ranked[i]], total, e->K, tokens);
        p->chance[i] = (int)(q * OFFLOAD_CHANCE_ONE + 0.5);
    }
    int expected = predictor_expected(e->scores, e->E, e->K, tokens, e->ranked);
    for (int i = 0; i < expected; i++)
        if (!in_prediction(p, layer * e->E + e->ranked[i]))
            p->keys[p->predicted++] = layer * e->E + e->ranked[i];
    return n;
}

int offload_engine_pick(offload_engine *e, const predictor_ops *pops, void *pst, int ahead,
                        int layer, int tokens, offload_prediction *p)
{
    int n = offload_engine_predict(e, pops, pst, ahead, layer, tokens, p);
    if (n > 0)
        offload_engine_predicted(e, p);
    return n;
}

void offload_engine_predicted(offload_engine *e, const offload_prediction *p)
{
    record_prediction(e, LOG_PREDICTED, p);
    for (int i = 0; i < p->count; i++)
        cache_hint(e->cache, p->keys[i], p->when);
}

/* Gathers the union of one layer's experts with token counts. */
static void gather(offload_engine *e, const int16_t *experts, const float *weights,
                   size_t tokens, size_t stride, int layer)
{
    e->n_need = 0;
    for (size_t t = 0; t < tokens; t++) {
        const int16_t *row = experts + t * stride;
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
            if (weights) {
                float w = weights[t * stride + (size_t)k];
                e->need_weight[j] = w > e->need_weight[j] ? w : e->need_weight[j];
            }
        }
    }
}

int offload_engine_ready(const offload_engine *e, int key)
{
    uint8_t s = e->state[key];
    return s == READY || s == STREAMED || s == ON_CPU_DONE;
}

int offload_engine_on_cpu(const offload_engine *e, int key) { return e->state[key] == ON_CPU_DONE; }

/* The paper's reordering classes: resident (0), being copied (1), partly
 * copied (2), not started (3).  With our copy engine class 2 is rare at a
 * gate: a preempted prefetch goes back to the front of LOW and resumes as
 * soon as the HIGH copies before it end, and a layer's compute waits for
 * all of its own HIGH copies; so at the next gate a partly copied expert
 * is the one in flight (class 1) unless the CPU computed a miss instead. */
static int load_class(offload_engine *e, int key)
{
    if (offload_engine_ready(e, key))
        return 0;
    if (ask_in_flight(e) == key)
        return 1;
    return ask_chunks_done(e, key) > 0 ? 2 : 3;
}

/* The expert's id within its layer: the order the paper's baselines run a
 * layer's experts in. */
static int expert_id(offload_engine *e, int key)
{
    return key % e->E;
}

/* With reordering, the layer's experts are demanded (so their HIGH copies
 * queued) and computed in class order, each class in the order the tokens
 * chose them; loading on reach, in expert-id order (a stable insertion
 * sort by rank: a layer needs at most E experts). */
static void sort_need(offload_engine *e, int (*rank)(offload_engine *e, int key))
{
    for (int i = 1; i < e->n_need; i++) {
        int key = e->need[i], count = e->need_count[i], cls = rank(e, key), j = i;
        float weight = e->need_weight[i];
        for (; j > 0 && rank(e, e->need[j - 1]) > cls; j--) {
            e->need[j] = e->need[j - 1];
            e->need_count[j] = e->need_count[j - 1];
            e->need_weight[j] = e->need_weight[j - 1];
        }
        e->need[j] = key;
        e->need_count[j] = count;
        e->need_weight[j] = weight;
    }
}

/* A staged prefetch is used: its buffer joins the cache and the victim's
 * slot (or a free one) becomes the staging buffer, so nothing is copied.
 * With every slot pinned it serves this layer only, from its buffer. */
static void adopt_staged(offload_engine *e, int key)
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
static void release_staged(offload_engine *e, int key)
{
    e->staged[key] = 0;
    e->staging_free++;
    e->state[key] = ABSENT;
}

/* A demanded expert's slot (evicting a victim), or, with every slot
 * pinned, a scratch buffer it is copied to and used from once. */
static void take_slot(offload_engine *e, int key)
{
    int victim;
    if (cache_load(e->cache, key, &victim)) {
        placed(e, key, victim);
        evict(e, victim);
        evicted_by(e, victim, 0);
        e->state[key] = LOADING;
        cache_pin(e->cache, key);
    } else {
        e->n.uncached++;
        e->state[key] = STREAMING;
    }
}

/* A resident expert is accessed at the gate, unless its prediction
 * counted this access already. */
static void use(offload_engine *e, int key)
{
    if (e->used_for[key] != e->now_pos)
        cache_use(e->cache, key);
}

static void demand(offload_engine *e, int key, int tokens, float weight)
{
    offload_counts *r = &e->n;
    if (e->victim_at[key] >= 0 && e->now_pos - e->victim_at[key] <= e->L)
        e->regrets[e->victim_of_prefetch[key]]++; /* evicted, and wanted back */
    e->victim_at[key] = -1;
    r->demands++;
    r->decode_demands += e->decode;
    r->expert_computations += tokens;
    if (e->staged[key])
        adopt_staged(e, key);
    if (e->state[key] == STREAMED && e->staged[key]) {
        r->hits++; /* arrived in time in its staging buffer */
        r->decode_hits += e->decode;
        r->prefetch_useful++;
    } else if (e->state[key] == STREAMING && e->staged[key]) {
        r->late_hits++;
        r->prefetch_late++;
        r->prefetch_useful++;
        ask_promote(e, key);
    } else if (e->state[key] == READY) {
        r->hits++;
        r->decode_hits += e->decode;
        use(e, key);
        r->prefetch_useful += e->from_prefetch[key];
    } else if (e->state[key] == LOADING) {
        r->late_hits++;
        r->prefetch_late += e->from_prefetch[key];
        r->prefetch_useful += e->from_prefetch[key];
        use(e, key);
        ask_promote(e, key);
    } else if (e->state[key] == QUEUED) {
        /* predicted, but its copy has not started: a miss that takes over
         * the queued task as a demand */
        r->misses++;
        r->prefetch_late++;
        r->prefetch_useful++;
        take_slot(e, key);
        ask_promote(e, key);
    } else {
        r->misses++;
        if (e->c->cpu_compute && e->ops.cpu_compute && ask_cpu_compute(e, key, tokens)) {
            e->state[key] = ON_CPU;
            r->cpu_computed++;
            e->from_prefetch[key] = 0;
            return; /* computed where it lives: nothing to pin */
        }
        if (weight < e->c->lowbit_weight) {
            /* unimportant for these tokens: a low-precision copy, used once */
            r->lowbit_loads++;
            r->lowbit_computations += tokens;
            e->state[key] = STREAMING;
            e->from_prefetch[key] = 0;
            ask_copy(e, key, COPY_HIGH, 0, 1);
            return;
        }
        if (e->c->load_on_reach) {
            e->on_reach[key] = 1; /* offload_engine_reach asks for it */
            e->from_prefetch[key] = 0;
            return;
        }
        take_slot(e, key);
        ask_copy(e, key, COPY_HIGH, 0, 0);
    }
    e->from_prefetch[key] = 0;
    if (e->state[key] != STREAMING && e->state[key] != STREAMED)
        cache_pin(e->cache, key); /* in use by the running layer */
}

/* Claims the layer's experts: the resident ones first, so that the
 * layer's misses cannot evict an expert it is about to use (as a real
 * system pins a layer's experts before it loads any); the rest in order. */
static void demand_layer(offload_engine *e)
{
    for (int i = 0; i < e->n_need; i++)
        e->resident[i] = load_class(e, e->need[i]) == 0;
    for (int resident = 1; resident >= 0; resident--)
        for (int i = 0; i < e->n_need; i++)
            if (e->resident[i] == resident) {
                int64_t hits = e->n.hits, late = e->n.late_hits;
                demand(e, e->need[i], e->need_count[i], e->need_weight[i]);
                int outcome = e->n.hits > hits ? 0 : e->n.late_hits > late ? 1 : 2;
                note(e, NOTE_DEMAND, e->need[i], outcome * 16 + e->state[e->need[i]]);
            }
}

/* Once the router of `layer` has chosen, its predictions not chosen are
 * retired: arrived ones free their staging buffers and, with early
 * preemption, queued or copying ones are withdrawn and their slots freed
 * (a chunk in flight still ends). */
static void retire_unchosen(offload_engine *e, int layer)
{
    for (int x = 0; x < e->E; x++) {
        int key = layer * e->E + x;
        if (e->staged[key] && e->state[key] == READY) {
            release_staged(e, key); /* arrived, but not chosen */
            e->n.prefetch_wasted += e->from_prefetch[key];
            e->from_prefetch[key] = 0;
            continue;
        }
        if (!e->c->preempt || (e->state[key] != LOADING && e->state[key] != QUEUED) ||
            !e->from_prefetch[key] || !ask_drop(e, key))
            continue;
        if (e->staged[key])
            release_staged(e, key); /* the next copy starts after this chunk anyway */
        else if (e->state[key] == LOADING) {
            cache_unpin(e->cache, key); /* the pin that held the slot while filling */
            cache_drop(e->cache, key);
            if (e->ops.vacate)
                e->ops.vacate(e->ops.ctx, key);
        }
        drop_prediction(e, key);
    }
}

void offload_engine_begin_layer(offload_engine *e, int64_t pos)
{
    record(e, LOG_BEGIN_LAYER, &pos, 1);
    e->now_pos = pos;
}
int64_t offload_engine_position(const offload_engine *e) { return e->now_pos; }

double offload_engine_misses_ahead(const offload_engine *e)
{
    return e->misses_per_gate[e->decode];
}

/* A gate's words: tokens, whether weights are known, then each token's K
 * experts and (if known) their weights' bits. */
static void record_gate(offload_engine *e, const int16_t *experts, const float *weights,
                        size_t tokens, size_t stride)
{
    size_t n = 2 + tokens * (size_t)e->K * (weights ? 2 : 1), at = 0;
    int64_t *w = malloc(n * sizeof *w);
    if (!w) {
        e->log->failed = 1;
        return;
    }
    w[at++] = (int64_t)tokens;
    w[at++] = weights != NULL;
    for (size_t t = 0; t < tokens; t++)
        for (int k = 0; k < e->K; k++) {
            w[at++] = experts[t * stride + (size_t)k];
            if (weights) {
                uint32_t bits;
                memcpy(&bits, &weights[t * stride + (size_t)k], sizeof bits);
                w[at++] = bits;
            }
        }
    offload_log_put(e->log, LOG_GATE, w, n);
    free(w);
}

/* The prefetches issued for this gate, against what the router chose. */
static void score_predictions(offload_engine *e, int layer)
{
    for (int k = layer * e->E; k < (layer + 1) * e->E; k++) {
        if (e->issued_for[k] != e->now_pos)
            continue;
        e->issued_for[k] = -1;
        e->claimed += (double)e->issued_chance[k] / OFFLOAD_CHANCE_ONE;
        for (int i = 0; i < e->n_need; i++)
            e->right += e->need[i] == k;
    }
}

void offload_engine_gate(offload_engine *e, const int16_t *experts, const float *weights,
                         size_t tokens, size_t stride)
{
    int layer = (int)(e->now_pos % e->L);
    if (e->log)
        record_gate(e, experts, weights, tokens, stride);
    gather(e, experts, weights, tokens, stride, layer);
    score_predictions(e, layer);
    if (e->c->reorder)
        sort_need(e, load_class);
    else if (e->c->load_on_reach)
        sort_need(e, expert_id);
    int64_t copies_before = e->n.misses - e->n.cpu_computed;
    demand_layer(e);
    if (e->c->prefetch_by_gain) { /* its only reader; a replay's gates are its hot loop */
        double *m = &e->misses_per_gate[e->decode];
        *m += ((double)(e->n.misses - e->n.cpu_computed - copies_before) - *m) / MISS_MEMORY;
    }
    e->gated_pos = e->now_pos;
    retire_unchosen(e, layer);
}

void offload_engine_reach(offload_engine *e, int key)
{
    if (!e->on_reach[key])
        return;
    int64_t w = key;
    record(e, LOG_REACH, &w, 1);
    e->on_reach[key] = 0;
    take_slot(e, key);
    ask_copy(e, key, COPY_HIGH, 0, 0);
    if (e->state[key] != STREAMING)
        cache_pin(e->cache, key); /* in use by the running layer */
}

int offload_engine_layer_size(const offload_engine *e) { return e->n_need; }

void offload_engine_layer_expert(const offload_engine *e, int i, int *key, int *tokens)
{
    *key = e->need[i];
    *tokens = e->need_count[i];
}

void offload_engine_layer_done(offload_engine *e)
{
    record(e, LOG_LAYER_DONE, NULL, 0);
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

void offload_engine_finish(offload_engine *e)
{
    record(e, LOG_FINISH, NULL, 0);
    for (int k = 0; k < e->L * e->E; k++)
        e->n.prefetch_wasted += e->from_prefetch[k];
}

const offload_counts *offload_engine_counts(const offload_engine *e) { return &e->n; }

static double ratio(int64_t part, int64_t whole)
{
    return whole ? (double)part / (double)whole : 0;
}

offload_rates offload_counts_rates(const offload_counts *n)
{
    int64_t timely = n->prefetch_useful - n->prefetch_late;
    return (offload_rates){.hit_rate = ratio(n->hits, n->demands),
                           .prefill_hit_rate = ratio(n->hits - n->decode_hits,
                                                     n->demands - n->decode_demands),
                           .decode_hit_rate = ratio(n->decode_hits, n->decode_demands),
                           .lowbit_share = ratio(n->lowbit_computations, n->expert_computations),
                           .prefetch_accuracy = ratio(n->prefetch_useful, n->prefetch_issued),
                           .prefetch_fetch_rate = ratio(timely, n->prefetch_useful),
                           .goodpred = ratio(timely, n->prefetch_issued)};
}
uint64_t offload_engine_digest(const offload_engine *e) { return e->digest; }
void offload_engine_set_phase(offload_engine *e, int decode) { e->decode = decode != 0; }
void offload_engine_set_log(offload_engine *e, offload_log *log) { e->log = log; }
int64_t offload_engine_capacity(const offload_engine *e) { return cache_capacity(e->cache); }

void offload_engine_free(offload_engine *e)
{
    if (!e)
        return;
    cache_free(e->cache);
    free(e->state);
    free(e->from_prefetch);
    free(e->on_reach);
    free(e->staged);
    free(e->prefetch_when);
    free(e->claimed_for);
    free(e->claim_pins);
    free(e->used_for);
    free(e->victim_at);
    free(e->victim_of_prefetch);
    free(e->issued_for);
    free(e->issued_chance);
    free(e->need);
    free(e->need_count);
    free(e->need_weight);
    free(e->resident);
    free(e->scores);
    free(e->ranked);
    free(e);
}

/* Fills the cache before serving: the policy's fixed set (static), or
 * with preload every expert. */
static int preload(offload_engine *e, promoe_err *err)
{
    size_t keys = (size_t)e->L * (size_t)e->E;
    int *fixed = malloc(keys * sizeof *fixed);
    if (!fixed)
        return promoe_err_set(err, "out of memory");
    int n = cache_preload(e->cache, fixed);
    for (int i = 0; i < n; i++) {
        e->state[fixed[i]] = READY;
        placed(e, fixed[i], -1);
    }
    free(fixed);
    if (!e->c->preload)
        return 0;
    if (e->c->slots < (int64_t)keys)
        return promoe_err_set(err, "a preloaded cache must hold every expert (%zu)", keys);
    for (size_t k = 0; k < keys; k++) {
        int victim, resident = e->state[k] == READY;
        cache_load(e->cache, (int)k, &victim);
        if (!resident)
            placed(e, (int)k, -1); /* the cache holds every expert: no victim */
        e->state[k] = READY;
    }
    return 0;
}

offload_engine *offload_engine_create(const offload_config *c, int L, int E, int K,
                                      const policy_future *future, const offload_clock_ops *ops,
                                      promoe_err *err)
{
    if (c->prefetch_by_gain && !ops->slack) {
        promoe_err_set(err, "this clock cannot say how much link time is free before a layer, "
                            "which prefetching by gain (promoe-adaptive) needs");
        return NULL;
    }
    if (c->staging < 0 || c->staging >= c->slots) {
        promoe_err_set(err, "%d staging buffers leave no cache slot of %lld (use fewer)",
                       c->staging, (long long)c->slots);
        return NULL;
    }
    offload_engine *e = calloc(1, sizeof *e);
    if (!e) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    size_t keys = (size_t)L * (size_t)E;
    *e = (offload_engine){.c = c, .ops = *ops, .L = L, .E = E, .K = K,
                          .limit = c->prefetch_limit > 0 ? c->prefetch_limit : K,
                          .staging_free = c->staging, .now_pos = -1, .gated_pos = -1,
                          .digest = FNV1A_START};
    e->state = calloc(keys, 1);
    e->from_prefetch = calloc(keys, 1);
    e->on_reach = calloc(keys, 1);
    e->staged = calloc(keys, 1);
    e->prefetch_when = calloc(keys, sizeof *e->prefetch_when);
    e->claimed_for = malloc(keys * sizeof *e->claimed_for);
    e->claim_pins = malloc((size_t)E * sizeof *e->claim_pins);
    e->used_for = malloc(keys * sizeof *e->used_for);
    e->victim_at = malloc(keys * sizeof *e->victim_at);
    e->victim_of_prefetch = calloc(keys, 1);
    e->issued_for = malloc(keys * sizeof *e->issued_for);
    e->issued_chance = malloc(keys * sizeof *e->issued_chance);
    e->need = malloc(keys * sizeof *e->need);
    e->need_count = malloc(keys * sizeof *e->need_count);
    e->need_weight = malloc(keys * sizeof *e->need_weight);
    e->resident = malloc(keys);
    e->scores = malloc((size_t)E * sizeof *e->scores);
    e->ranked = malloc((size_t)E * sizeof *e->ranked);
    if (!e->state || !e->from_prefetch || !e->on_reach || !e->staged || !e->prefetch_when || !e->claimed_for ||
        !e->claim_pins || !e->used_for || !e->victim_at || !e->victim_of_prefetch || !e->issued_for ||
        !e->issued_chance || !e->need || !e->need_count || !e->need_weight ||
        !e->resident || !e->scores || !e->ranked) {
        offload_engine_free(e);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    for (size_t k = 0; k < keys; k++)
        e->claimed_for[k] = e->used_for[k] = e->victim_at[k] = e->issued_for[k] = -1;
    cache_config cc = offload_cache_config(c, L, E);
    cc.slots -= c->staging;
    cc.future = future;
    cc.clock = &e->now_pos;
    if (!(e->cache = cache_create(&cc, err)) || preload(e, err) < 0) {
        offload_engine_free(e);
        return NULL;
    }
    return e;
}
