/* cache.h - the GPU expert cache: which experts are resident, in slot
 * pools of a global or per-layer scope, with pinning; the policy chosen by
 * name decides victims.  Keys are layer * num_experts + expert. */
#ifndef PROMOE_OFFLOAD_CACHE_H
#define PROMOE_OFFLOAD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "policies/policy.h"

typedef struct cache_config {
    int num_layers, num_experts;
    int64_t slots;           /* total; per-layer scope splits them evenly */
    int per_layer;           /* 0: one global pool; 1: slots / L per layer */
    const char *policy;      /* registry name */
    const char *policy_options;
    const policy_future *future; /* for offline policies, else NULL */
    const int64_t *clock;        /* replay position, for prediction-aware policies */
} cache_config;

typedef struct expert_cache expert_cache;

expert_cache *cache_create(const cache_config *cfg, promoe_err *err);
void cache_free(expert_cache *c);

int cache_resident(const expert_cache *c, int key);
/* A resident expert was used. */
void cache_use(expert_cache *c, int key);
/* Makes key resident, evicting the policy's victim from its pool when full.
 * Returns 1 if loaded (*evicted = the victim or -1), 0 if every candidate
 * is pinned so the expert cannot be cached (it is used uncached). */
int cache_load(expert_cache *c, int key, int *evicted);
/* Loads the keys the policy wants resident from the start (static's
 * fixed set) and writes them to keys (room for every key of the model);
 * returns how many. */
int cache_preload(expert_cache *c, int *keys);
/* Frees key's slot (an unpinned resident key; no effect otherwise). */
void cache_drop(expert_cache *c, int key);
/* A predictor expects key at position `when` (for policies that care). */
void cache_hint(expert_cache *c, int key, int64_t when);
/* Pins nest: a key pinned twice needs two unpins. */
void cache_pin(expert_cache *c, int key);
void cache_unpin(expert_cache *c, int key);
int64_t cache_capacity(const expert_cache *c);

/* Parses a --cache value: a share of all L*E experts when written with a
 * decimal point or as a percentage ("0.25", "1.0", "25%", "100%"; rounded
 * down), a number of slots when written with digits only ("256"), or
 * bytes with a unit ("12GiB", "500MB"; needs expert_bytes).  Refuses
 * anything else, shares above all the experts, sizes of no slot and more
 * slots than the model has experts. */
int cache_size_parse(const char *s, int num_layers, int num_experts, size_t expert_bytes,
                     int64_t *slots, promoe_err *err);

#endif
