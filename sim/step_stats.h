/* step_stats.h - what a timed run records of each step it runs, the same
 * for every way of running one (the expert-cache engine, the layer-offload
 * baselines): tokens, TTFT per request prefilled, TPOT per decode token,
 * the decode steps' stall; and the figures derived at the end.
 */
#ifndef PROMOE_SIM_STEP_STATS_H
#define PROMOE_SIM_STEP_STATS_H

#include <gsl/gsl_rstat.h>

#include "sim/batcher.h"
#include "sim/engine.h"

typedef struct step_stats {
    gsl_rstat_workspace *tpot, *ttft;
    gsl_rstat_quantile_workspace *tpot_q[3], *ttft_q[3]; /* p50, p90, p99 */
} step_stats;

/* Returns -1 when out of memory (what was allocated is freed). */
int step_stats_init(step_stats *s);
void step_stats_free(step_stats *s);

/* Records step b, which took dur ns, stall of them with the GPU waiting. */
void step_stats_record(step_stats *s, sim_result *r, const step_buf *b, int64_t dur, int64_t stall);

/* Fills r's latency figures and the shares and rates derived from its
 * totals (total_ns, gpu_stall_ns, pcie_busy_ns and the counts set). */
void step_stats_finish(const step_stats *s, sim_result *r);

#endif
