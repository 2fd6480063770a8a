/* config.h - every setting of an offloading system, declared once: the
 * cache, the prediction and prefetching, the copies and the mechanisms of
 * the paper and its peers.  A named system (offload/system.h) fills one;
 * the simulator (sim_config) and the executor (exec_gen_config) embed it,
 * and the command line overrides it, so that `promoe sim` and
 * `promoe exec` run the same system from the same settings. */
#ifndef PROMOE_OFFLOAD_CONFIG_H
#define PROMOE_OFFLOAD_CONFIG_H

#include <stdint.h>

#include "offload/cache.h"
#include "predictors/predictor.h"

enum { CPU_COMPUTE_OFF = 0, CPU_COMPUTE_SOONER = 1, CPU_COMPUTE_ALWAYS = 2 };
enum { LAYER_OFFLOAD_NONE = 0, LAYER_OFFLOAD_STREAM = 1, LAYER_OFFLOAD_CPU = 2 };

typedef struct offload_config {
    int64_t slots;               /* cache size in experts */
    int per_layer;               /* cache scope */
    int preload;                 /* start with the cache full (all-gpu) */
    const char *policy, *policy_options;
    const char *predictor, *predictor_options;
    const predictor_ops *predictor_ops; /* if set, used instead of the name */
    int stride;                  /* layers ahead that predictions target (>= 1) */
    int prefetch_limit;          /* experts prefetched per prediction; 0 = top-k */
    /* prefetch only experts whose share of the prediction's scores, times
     * top-k, is at least this (an estimate of the chance that the expert is
     * chosen); 0 = all */
    double prefetch_min_prob;
    /* promoe-adaptive: a predicted expert is prefetched only when its
     * expected gain beats its expected cost (offload/engine.h), judged from
     * its chance, the link time the clock says is free before its layer,
     * and how often a prefetch's victim is wanted back */
    int prefetch_by_gain;
    /* prefetch buffers taken from the cache budget: a prefetch copies into
     * one and joins the cache only when its expert is used (a wrong
     * prediction evicts nothing); 0 = prefetches go straight to the cache */
    int staging;
    int chunks;                  /* chunks per expert copy (1 = unchunked) */
    int preempt;                 /* demand copies overtake prefetches */
    int reorder;                 /* compute resident experts first */
    /* the paper's baselines: a layer's experts run in expert-id order, and
     * a miss is copied only when its turn comes, the layer waiting for it
     * (nothing is loaded at the gate for the layer as a whole) */
    int load_on_reach;
    /* compute a miss where it lives (the host) instead of copying it:
     * CPU_COMPUTE_SOONER when that ends first (Fiddler), CPU_COMPUTE_ALWAYS
     * for every miss (MoNDE's cold experts) */
    int cpu_compute;
    double lowbit_weight;        /* HOBBIT: misses below this gate weight load low-bit (0: off) */
    double lowbit_ratio;         /* their bytes, as a share of the expert's */
    double predictor_us;         /* CPU time of one prediction */
    /* fixed cost of each chunk's copy on top of its transfer: a page fault's
     * handling when chunks are the pages of unified memory */
    double fault_us;
    /* the paper's layer-granular baselines instead of an expert cache
     * (sim/layer_offload.h): LAYER_OFFLOAD_STREAM (TO), LAYER_OFFLOAD_CPU (LO) */
    int layer_offload;
} offload_config;

/* Everything but slots: LRU, global scope, no predictor, stride 1,
 * unchunked, no preemption, reordering, staging or other mechanism. */
void offload_config_defaults(offload_config *c);

/* The expert cache c describes for L layers of E experts (no future, no
 * clock: the caller sets those its policy needs). */
cache_config offload_cache_config(const offload_config *c, int L, int E);

#endif
