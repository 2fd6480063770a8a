/* engine.h - the timed, discrete-event replay of a trace: the cost
 * model's clock around the decision engine (offload/engine.h), which makes
 * every cache, copy and prefetch decision; this file only says when things
 * happen and tells the engine.
 *
 * Resources: the GPU stream (attention, router, experts, in order), the
 * copy engine (offload/copy_engine.h), and the CPU (the predictor's cost, and
 * misses computed where they live).  Steps run one after another
 * (sim/batcher.h makes them: the trace's iterations, or continuous batches
 * of up to `batch` requests; TTFT is a request's prefill step, TPOT each
 * decode token's step); within one, every layer runs attention, then the
 * router (the engine's gate: the experts the trace says its tokens chose,
 * a prefill iteration needing the union, each expert computed once on the
 * tokens that chose it), then the experts, each once it is ready.  Then
 * the predictor observes the layer and predicts layer l + stride (wrapping
 * into the next iteration); its prediction reaches the engine after the
 * predictor's CPU time.  With cpu_compute, the CPU computes a miss when
 * the engine asks and (Fiddler's choice) that would finish before its copy
 * (the copy engine's backlog included): its activations cross PCIe both
 * ways (as latency, not on the copy engine), the CPU runs one such expert
 * at a time, and the GPU waits for the result instead of computing it.  A
 * low-precision copy (HOBBIT) moves lowbit_ratio of an expert's bytes.
 * Times are integer nanoseconds.
 */
#ifndef PROMOE_SIM_ENGINE_H
#define PROMOE_SIM_ENGINE_H

#include <stdint.h>

#include "common/error.h"
#include "offload/config.h"
#include "offload/engine.h"
#include "sim/cost.h"

typedef struct sim_config {
    cost_model cost;
    offload_config offload;      /* the system simulated */
    int batch;                   /* requests per step (0 or 1: as recorded) */
    unsigned long seed;
    /* if set, the decision engine's events and questions are recorded
     * here (offload/event_log.h), for offload_log_replay */
    struct offload_log *log;
    /* Called after each iteration with tokens done and the total. */
    void (*progress)(int64_t done, int64_t total);
} sim_config;

/* Sets everything but cost and the cache size: offload_config_defaults,
 * batch as recorded, seed 1. */
void sim_config_defaults(sim_config *c);

typedef struct sim_result {
    int64_t tokens, prefill_tokens, decode_tokens, iterations, requests;
    offload_counts counts;       /* the decision engine's */
    uint64_t decisions_digest;   /* offload_engine_digest: the decisions, one by one */
    double lowbit_share;
    int64_t preemptions;
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
