#include "offload/cache.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"

typedef struct pool {
    void *policy;
    int64_t capacity, used;
    policy_env env;      /* the policy reads it for its whole life */
} pool;

struct expert_cache {
    const cache_policy_ops *ops;
    int L, E, per_layer;
    uint8_t *resident;   /* [L*E] */
    uint8_t *pinned;     /* [L*E] pin counts, read by the policies */
    pool *pools;         /* 1 or L */
    int num_pools;
};

expert_cache *cache_create(const cache_config *cfg, promoe_err *err)
{
    const cache_policy_ops *ops = policy_find(cfg->policy);
    if (!ops) {
        promoe_err_set(err, "unknown policy '%s' (policies: %s)", cfg->policy, policy_names());
        return NULL;
    }
    int64_t keys = (int64_t)cfg->num_layers * cfg->num_experts;
    if (cfg->slots < 1 || cfg->slots > keys) {
        promoe_err_set(err, "cache of %lld slots: must hold 1 to %lld experts", (long long)cfg->slots,
                       (long long)keys);
        return NULL;
    }
    if (cfg->per_layer && cfg->slots < cfg->num_layers) {
        promoe_err_set(err, "a per-layer cache needs at least one slot per layer (%lld slots, "
                       "%d layers)", (long long)cfg->slots, cfg->num_layers);
        return NULL;
    }
    expert_cache *c = calloc(1, sizeof *c);
    if (!c) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    c->ops = ops;
    c->L = cfg->num_layers;
    c->E = cfg->num_experts;
    c->per_layer = cfg->per_layer;
    c->num_pools = cfg->per_layer ? cfg->num_layers : 1;
    c->resident = calloc((size_t)keys, 1);
    c->pinned = calloc((size_t)keys, 1);
    c->pools = calloc((size_t)c->num_pools, sizeof *c->pools);
    if (!c->resident || !c->pinned || !c->pools) {
        promoe_err_set(err, "out of memory");
        cache_free(c);
        return NULL;
    }
    /* per layer: an equal share, the first layers taking one slot of the
     * remainder each, so every slot of the budget is used */
    for (int p = 0; p < c->num_pools; p++)
        c->pools[p].capacity = cfg->per_layer ? cfg->slots / cfg->num_layers +
                                                    (p < cfg->slots % cfg->num_layers)
                                              : cfg->slots;
    for (int p = 0; p < c->num_pools; p++) {
        int lo = cfg->per_layer ? p * c->E : 0, hi = cfg->per_layer ? (p + 1) * c->E : (int)keys;
        c->pools[p].env = (policy_env){.num_keys = (int)keys, .key_lo = lo, .key_hi = hi,
                                       .capacity = (int)c->pools[p].capacity, .pinned = c->pinned,
                                       .future = cfg->future, .clock = cfg->clock};
        if (!(c->pools[p].policy = ops->create(&c->pools[p].env, cfg->policy_options, err))) {
            cache_free(c);
            return NULL;
        }
    }
    return c;
}

void cache_free(expert_cache *c)
{
    if (!c)
        return;
    for (int p = 0; c->pools && p < c->num_pools; p++)
        if (c->pools[p].policy)
            c->ops->destroy(c->pools[p].policy);
    free(c->pools);
    free(c->resident);
    free(c->pinned);
    free(c);
}

static pool *pool_of(expert_cache *c, int key)
{
    return &c->pools[c->per_layer ? key / c->E : 0];
}

int cache_resident(const expert_cache *c, int key) { return c->resident[key]; }

void cache_use(expert_cache *c, int key)
{
    c->ops->on_access(pool_of(c, key)->policy, key);
}

int cache_load(expert_cache *c, int key, int *evicted)
{
    pool *p = pool_of(c, key);
    *evicted = -1;
    if (p->used == p->capacity) {
        int v = c->ops->choose_victim(p->policy);
        if (v < 0)
            return 0;
        c->ops->on_remove(p->policy, v);
        c->resident[v] = 0;
        p->used--;
        *evicted = v;
    }
    c->resident[key] = 1;
    p->used++;
    c->ops->on_insert(p->policy, key);
    return 1;
}

/* The keys the policies want resident before serving starts. */
static int cache_initial_keys(expert_cache *c, int *keys)
{
    int n = 0;
    for (int p = 0; c->ops->initial && p < c->num_pools; p++)
        n += c->ops->initial(c->pools[p].policy, keys + n, (int)c->pools[p].capacity);
    return n;
}

int cache_preload(expert_cache *c, int *keys)
{
    int n = cache_initial_keys(c, keys);
    for (int i = 0; i < n; i++) {
        int evicted;
        cache_load(c, keys[i], &evicted);
    }
    return n;
}

void cache_drop(expert_cache *c, int key)
{
    if (!c->resident[key] || c->pinned[key])
        return;
    pool *p = pool_of(c, key);
    c->ops->on_remove(p->policy, key);
    c->resident[key] = 0;
    p->used--;
}

void cache_hint(expert_cache *c, int key, int64_t when)
{
    if (c->ops->on_predict)
        c->ops->on_predict(pool_of(c, key)->policy, key, when);
}


void cache_pin(expert_cache *c, int key) { c->pinned[key]++; }
void cache_unpin(expert_cache *c, int key) { c->pinned[key]--; }

int64_t cache_capacity(const expert_cache *c)
{
    int64_t sum = 0; /* per-layer pools differ by a slot where the budget does not divide */
    for (int p = 0; p < c->num_pools; p++)
        sum += c->pools[p].capacity;
    return sum;
}

/* 1 if s is a whole number written with digits only. */
static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

int cache_size_parse(const char *s, int num_layers, int num_experts, size_t expert_bytes,
                     int64_t *slots, promoe_err *err)
{
    int64_t total = (int64_t)num_layers * num_experts;
    size_t len = strlen(s);
    double n, v;
    int had_unit;
    if (len > 1 && s[len - 1] == '%') { /* a percentage of the experts */
        char *end;
        v = strtod(s, &end);
        if (end != s + len - 1 || !(v > 0 && v <= 100))
            return promoe_err_set(err, "cache size '%s': a percentage of the experts must be "
                                  "in (0, 100]", s);
        n = floor(v / 100 * (double)total);
    } else if (all_digits(s)) { /* a number of slots */
        n = strtod(s, NULL);
    } else if (units_parse_bytes(s, &v, &had_unit, err) < 0) {
        return promoe_err_prefix(err, "cache size (a share of the experts like 0.25, 1.0 or "
                                 "25%%, a whole number of slots like 256, or bytes like 12GiB)");
    } else if (had_unit) {
        if (expert_bytes == 0)
            return promoe_err_set(err, "cache size '%s' is in bytes, which needs a model "
                                  "(--model) to size experts", s);
        n = floor(v / (double)expert_bytes);
    } else { /* written with a decimal point or an exponent: a share */
        if (!(v > 0 && v <= 1))
            return promoe_err_set(err, "cache size '%s': a share of the experts must be in "
                                  "(0, 1] (a number of slots is written with digits only, "
                                  "like 256)", s);
        n = floor(v * (double)total);
    }
    if (n < 1)
        return promoe_err_set(err, "cache size '%s' holds no expert", s);
    if (n > (double)total)
        return promoe_err_set(err, "cache size '%s' (%.0f experts) is larger than the model's "
                              "%lld experts (%d layers x %d)", s, n, (long long)total, num_layers,
                              num_experts);
    *slots = (int64_t)n;
    return 0;
}
