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
#include "offload/config.h"
#include "sim/cost.h"

typedef struct sim_config {
    cost_model cost;
    offload_config offload;      /* the system simulated */
    int batch;                   /* requests per step (0 or 1: as recorded) */
    unsigned long seed;
    /* Called after each iteration with tokens done and the total. */
    void (*progress)(int64_t done, int64_t total);
} sim_config;

/* Sets everything but cost and the cache size: offload_config_defaults,
 * batch as recorded, seed 1. */
void sim_config_defaults(sim_config *c);

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
