/* engine.h - the timed, discrete-event replay of a trace.
 *
 * Resources: the GPU stream (attention, router, experts, in order), the
 * copy engine (sim/copy_engine.h), and the CPU (the predictor's cost).
 * Steps run one after another (sim/batcher.h makes them: the trace's
 * iterations, or continuous batches of up to `batch` requests; TTFT is
 * a request's prefill step, TPOT each decode token's step); within one, every layer runs
 * attention, then the router, then the experts the trace says its tokens
 * chose (a prefill iteration needs the union, each expert computed once on
 * the tokens that chose it).  Once the router has run, an expert is a hit
 * if resident, a late hit if its copy is under way, a miss otherwise (a
 * demand copy is issued); the layer waits for each expert it computes.
 * Then the predictor observes the layer and predicts layer l + stride
 * (wrapping into the next iteration); the experts it scores above 0 are
 * prefetched, highest first, at most `prefetch_limit` a layer.  With
 * cpu_compute, a missed expert is computed where it lives, on the CPU, when
 * that would finish before its copy (the copy engine's backlog included):
 * its activations cross PCIe both ways (as latency, not on the copy
 * engine), the CPU runs one such expert at a time, and the GPU waits for the
 * result instead of computing it (Fiddler's choice per expert).  With
 * lowbit_weight > 0 (HOBBIT), a missed expert whose largest gate weight
 * among the step's tokens is below it is copied in low precision instead:
 * lowbit_ratio of its bytes, into a scratch buffer, used by this layer only
 * (the cache keeps full-precision experts).  Queuing a
 * prefetch for a resident expert counts as a use: as the target's access,
 * which the gate then does not count again (so LFU and LRU-K see one use
 * per access, predicted or not).  A prefetch's copy never evicts an
 * expert its prediction expects in the target layer (predictor_expected):
 * replacing one needed expert by another gains nothing.  The experts
 * of the running layer and those being copied are pinned; a layer claims
 * its resident experts before its misses take slots, so it never evicts
 * an expert it uses.  With reordering, a layer's experts are claimed and
 * computed resident first, then the one being copied, then partly copied,
 * then not started (the paper's order).  Times are
 * integer nanoseconds.
 */
#ifndef PROMOE_SIM_ENGINE_H
#define PROMOE_SIM_ENGINE_H

#include <stdint.h>

#include "common/error.h"
#include "predictors/predictor.h"
#include "sim/cost.h"

typedef struct sim_config {
    cost_model cost;
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
    /* prefetch buffers taken from the cache budget: a prefetch copies into
     * one and joins the cache only when its expert is used (a wrong
     * prediction evicts nothing); 0 = prefetches go straight to the cache */
    int staging;
    int chunks;                  /* chunks per expert copy (1 = unchunked) */
    int preempt;                 /* demand copies overtake prefetches */
    int reorder;                 /* compute resident experts first */
    /* compute a miss where it lives (the host) instead of copying it:
     * CPU_COMPUTE_SOONER when that ends first (Fiddler), CPU_COMPUTE_ALWAYS
     * for every miss (MoNDE's cold experts) */
    int cpu_compute;
    double lowbit_weight;        /* HOBBIT: misses below this gate weight load low-bit (0: off) */
    double lowbit_ratio;         /* their bytes, as a share of the expert's */
    int batch;                   /* requests per step (0 or 1: as recorded) */
    double predictor_us;         /* CPU time of one prediction */
    /* fixed cost of each chunk's copy on top of its transfer: a page fault's
     * handling when chunks are the pages of unified memory */
    double fault_us;
    /* the paper's layer-granular baselines instead of an expert cache
     * (sim/layer_offload.h): LAYER_OFFLOAD_STREAM (TO), LAYER_OFFLOAD_CPU (LO) */
    int layer_offload;
    unsigned long seed;
    /* Called after each iteration with tokens done and the total. */
    void (*progress)(int64_t done, int64_t total);
} sim_config;

/* Sets everything but cost, slots and the names: LRU, per-layer off, no
 * predictor, stride 1, unchunked, no preemption or reordering. */
void sim_config_defaults(sim_config *c);

enum { CPU_COMPUTE_OFF = 0, CPU_COMPUTE_SOONER = 1, CPU_COMPUTE_ALWAYS = 2 };
enum { LAYER_OFFLOAD_NONE = 0, LAYER_OFFLOAD_STREAM = 1, LAYER_OFFLOAD_CPU = 2 };

typedef struct sim_result {
    int64_t tokens, prefill_tokens, decode_tokens, iterations, requests;
    int64_t demands, hits, late_hits, misses, uncached;
    int64_t cpu_computed;        /* misses computed on the CPU instead of loaded */
    int64_t lowbit_loads;        /* misses loaded in low precision */
    /* (token, layer, expert) computations, and those done by a low-precision
     * copy: their ratio is the share of the model's expert work that ran in
     * low precision, HOBBIT's accuracy cost */
    int64_t expert_computations, lowbit_computations;
    double lowbit_share;
    int64_t prefetch_issued, prefetch_useful, prefetch_wasted, prefetch_late;
    /* withdrawn before arriving (early preemption, or no slot or staging
     * buffer when the copy would start); counted among the wasted too */
    int64_t prefetch_dropped;
    int64_t preemptions, evictions;
    int64_t total_ns, prefill_ns, decode_ns, gpu_stall_ns, pcie_busy_ns;
    /* of the steps with decode tokens (decode_ns): their number and the GPU's
     * stall in them, so a decode step's time splits into compute and stall;
     * and the stall in the steps that prefill a request (prefill_ns) */
    int64_t decode_steps, decode_stall_ns, prefill_stall_ns;
    double pcie_bytes;
    double ttft_ms_mean, ttft_ms_p50, ttft_ms_p90, ttft_ms_p99; /* per request */
    /* per decode iteration; percentiles are GSL's streaming P^2 estimates
     * (exact for up to 5 iterations), so memory does not grow with the trace */
    double tpot_ms_mean, tpot_ms_p50, tpot_ms_p90, tpot_ms_p99;
    /* per decode step: the GPU's stall, and the rest (compute) */
    double decode_stall_ms_mean, decode_compute_ms_mean;
    /* the share of each phase's time the GPU waits for experts (the paper's
     * Fig. 4: time blocked on loads) */
    double prefill_stall_share, decode_stall_share;
    double prefill_tokens_per_s, decode_tokens_per_s;
    double hit_rate, gpu_stall_share, pcie_busy_share;
    /* The paper's GoodPred = Accuracy x FetchRate over the run's prefetches:
     * accuracy = prefetches used / issued, fetch rate = prefetches complete
     * when used / used, so goodpred = prefetches complete when used / issued */
    double prefetch_accuracy, prefetch_fetch_rate, goodpred;
    int64_t slots;
    int resident_layers;         /* layer offload: layers kept on the GPU */
} sim_result;

int sim_run(const char *trace_path, const sim_config *cfg, sim_result *out, promoe_err *err);

#endif
