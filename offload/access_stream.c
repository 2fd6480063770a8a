#include "offload/access_stream.h"

#include <stdlib.h>
#include <string.h>

#include "common/fnv1a.h"

struct access_stream {
    access_stream_config cfg;
    offload_config off;      /* cfg.offload's settings */
    expert_cache *cache;
    int L, E;
    int64_t token;           /* tokens begun, the current one being token - 1 */
    int64_t now_pos;         /* the policy's clock: token * L + layer */
    uint8_t *from_prefetch;  /* [L * E] loaded by a prediction, not used since */
    /* [L * E] the position whose access a prediction already counted for
     * the policy (using or loading the expert): not counted again there */
    int64_t *used_for;
    double *scores;
    int *ranked;
    int *expected;           /* [E] predictor_expected's list */
    int *pinned;             /* [K + 2E] the observed layer's and the predicted, while prefetching */
    access_stream_stats stats;
};

access_stream *access_stream_create(const access_stream_config *cfg, promoe_err *err)
{
    if (cfg->pops && cfg->offload->stride < 1) {
        promoe_err_set(err, "stride %d must be at least 1", cfg->offload->stride);
        return NULL;
    }
    access_stream *s = calloc(1, sizeof *s);
    if (!s) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->off = *cfg->offload;
    s->cfg.offload = &s->off;
    s->L = cfg->num_layers;
    s->E = cfg->num_experts;
    s->now_pos = -1;
    s->stats.digest = FNV1A_START;
    cache_config cc = offload_cache_config(&s->off, s->L, s->E);
    cc.future = cfg->future;
    cc.clock = &s->now_pos;
    s->from_prefetch = calloc((size_t)s->L * (size_t)s->E, 1);
    s->used_for = malloc((size_t)s->L * (size_t)s->E * sizeof *s->used_for);
    s->scores = malloc((size_t)s->E * sizeof *s->scores);
    s->ranked = malloc((size_t)s->E * sizeof *s->ranked);
    s->expected = malloc((size_t)s->E * sizeof *s->expected);
    s->pinned = malloc((size_t)(cfg->top_k + 2 * s->E) * sizeof *s->pinned);
    if (!s->from_prefetch || !s->used_for || !s->scores || !s->ranked || !s->expected || !s->pinned) {
        promoe_err_set(err, "out of memory");
        access_stream_free(s);
        return NULL;
    }
    for (int k = 0; k < s->L * s->E; k++)
        s->used_for[k] = -1;
    if (!(s->cache = cache_create(&cc, err))) {
        access_stream_free(s);
        return NULL;
    }
    return s;
}

void access_stream_free(access_stream *s)
{
    if (!s)
        return;
    cache_free(s->cache);
    free(s->from_prefetch);
    free(s->used_for);
    free(s->scores);
    free(s->ranked);
    free(s->expected);
    free(s->pinned);
    free(s);
}

int access_stream_preload(access_stream *s, int *keys) { return cache_preload(s->cache, keys); }

void access_stream_begin_token(access_stream *s)
{
    s->token++;
    s->stats.tokens++;
    if (s->cfg.pops)
        s->cfg.pops->begin_iteration(s->cfg.pst);
}

static void digest(access_stream *s, const stream_decision *d)
{
    int32_t v[3] = {d->kind, d->key, d->evicted};
    s->stats.digest = fnv1a(s->stats.digest, v, sizeof v);
}

static void retire(access_stream *s, int victim)
{
    if (victim < 0)
        return;
    s->stats.evictions++;
    s->from_prefetch[victim] = 0;
}

/* The prediction for the layer `stride` after the observed one: its
 * experts loaded (or, when resident, used) while the observed layer's
 * resident experts are pinned, and so are the target layer's resident
 * experts it predicts or expects past the limit (predictor_expected):
 * replacing one expected expert by another gains nothing. */
static int prefetch(access_stream *s, const predictor_obs *obs, stream_decision *out)
{
    int K = s->cfg.top_k, target = obs->layer + s->off.stride;
    int ahead = target / s->L, layer = target % s->L;
    if (ahead > 1)
        return 0;
    int limit = s->off.prefetch_limit > 0 ? s->off.prefetch_limit : K;
    int n = predictor_pick(s->cfg.pops, s->cfg.pst, ahead, layer, s->E, K, limit,
                           s->off.prefetch_min_prob, s->scores, s->ranked);
    int64_t when = (s->token - 1 + ahead) * s->L + layer;
    int n_pinned = 0, made = 0;
    for (int k = 0; k < K; k++) {
        int key = obs->layer * s->E + obs->experts[k];
        if (obs->experts[k] >= 0 && cache_resident(s->cache, key)) {
            cache_pin(s->cache, key);
            s->pinned[n_pinned++] = key;
        }
    }
    for (int i = 0; i < n; i++) {
        int key = layer * s->E + s->ranked[i];
        cache_hint(s->cache, key, when);
        if (cache_resident(s->cache, key) && s->used_for[key] != when) {
            cache_use(s->cache, key); /* a prediction of a resident expert counts as the access */
            s->used_for[key] = when;
        }
    }
    int expected = n > 0 ? predictor_expected(s->scores, s->E, K, 1, s->expected) : 0;
    for (int i = 0; i < n + expected; i++) {
        int key = layer * s->E + (i < n ? s->ranked[i] : s->expected[i - n]);
        if (cache_resident(s->cache, key)) {
            cache_pin(s->cache, key);
            s->pinned[n_pinned++] = key;
        }
    }
    for (int i = 0; i < n; i++) {
        int key = layer * s->E + s->ranked[i], evicted;
        if (cache_resident(s->cache, key) || !cache_load(s->cache, key, &evicted))
            continue; /* used above, or every slot of its pool is pinned */
        retire(s, evicted);
        s->from_prefetch[key] = 1;
        s->used_for[key] = when;
        s->stats.prefetch_issued++;
        out[made++] = (stream_decision){STREAM_PREFETCH, key, evicted, when};
    }
    for (int i = 0; i < n_pinned; i++)
        cache_unpin(s->cache, s->pinned[i]);
    return made;
}

int access_stream_layer(access_stream *s, const predictor_obs *obs, stream_decision *out)
{
    int n = 0;
    s->now_pos = (s->token - 1) * s->L + obs->layer;
    for (int k = 0; k < s->cfg.top_k; k++) {
        if (obs->experts[k] < 0)
            continue;
        int key = obs->layer * s->E + obs->experts[k], evicted;
        int hit = cache_resident(s->cache, key);
        evicted = -1;
        if (hit && s->used_for[key] != s->now_pos)
            cache_use(s->cache, key);
        else if (!hit) /* stats.accesses: this one's index, for offline policies */
            cache_load(s->cache, key, &evicted);
        s->stats.accesses++;
        if (hit) {
            s->stats.hits++;
            s->stats.prefetch_useful += s->from_prefetch[key];
            out[n++] = (stream_decision){STREAM_HIT, key, -1, s->now_pos};
        } else {
            s->stats.misses++;
            retire(s, evicted);
            out[n++] = (stream_decision){STREAM_MISS, key, evicted, s->now_pos};
        }
        s->from_prefetch[key] = 0;
    }
    if (s->cfg.pops) {
        s->cfg.pops->observe(s->cfg.pst, obs);
        n += prefetch(s, obs, out + n);
    }
    for (int i = 0; i < n; i++)
        digest(s, &out[i]);
    return n;
}

const int64_t *access_stream_access_index(const access_stream *s) { return &s->stats.accesses; }

double access_stream_hit_rate(const access_stream_stats *s)
{
    return s->accesses ? (double)s->hits / (double)s->accesses : 0;
}
const access_stream_stats *access_stream_stats_of(const access_stream *s) { return &s->stats; }
int64_t access_stream_capacity(const access_stream *s) { return cache_capacity(s->cache); }
