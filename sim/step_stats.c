#include "sim/step_stats.h"

#include <string.h>

int step_stats_init(step_stats *s)
{
    static const double quantiles[3] = {0.50, 0.90, 0.99};
    memset(s, 0, sizeof *s);
    s->tpot = gsl_rstat_alloc();
    s->ttft = gsl_rstat_alloc();
    int ok = s->tpot && s->ttft;
    for (int i = 0; i < 3; i++) {
        s->tpot_q[i] = gsl_rstat_quantile_alloc(quantiles[i]);
        s->ttft_q[i] = gsl_rstat_quantile_alloc(quantiles[i]);
        ok &= s->tpot_q[i] && s->ttft_q[i];
    }
    if (!ok)
        step_stats_free(s);
    return ok ? 0 : -1;
}

void step_stats_free(step_stats *s)
{
    if (s->tpot)
        gsl_rstat_free(s->tpot);
    if (s->ttft)
        gsl_rstat_free(s->ttft);
    for (int i = 0; i < 3; i++) {
        if (s->tpot_q[i])
            gsl_rstat_quantile_free(s->tpot_q[i]);
        if (s->ttft_q[i])
            gsl_rstat_quantile_free(s->ttft_q[i]);
    }
    memset(s, 0, sizeof *s);
}

static void add(gsl_rstat_workspace *w, gsl_rstat_quantile_workspace *const q[3], double x)
{
    gsl_rstat_add(x, w);
    for (int i = 0; i < 3; i++)
        gsl_rstat_quantile_add(x, q[i]);
}

void step_stats_record(step_stats *s, sim_result *r, const step_buf *b, int64_t dur, int64_t stall)
{
    /* every request prefilled in this step has its first token at its end;
     * every decode token takes the whole step */
    double dur_ms = (double)dur / 1e6;
    int64_t prefilled = 0, decoded = 0;
    for (size_t t = 0; t < b->n; t++) {
        if (b->phase[t] == TRACE_PREFILL) {
            r->prefill_tokens++;
            prefilled += t == 0 || b->request[t] != b->request[t - 1] ||
                         b->phase[t - 1] != TRACE_PREFILL;
        } else {
            r->decode_tokens++;
            decoded++;
            add(s->tpot, s->tpot_q, dur_ms);
        }
    }
    if (prefilled) {
        r->prefill_ns += dur;
        r->prefill_stall_ns += stall;
    }
    for (int64_t i = 0; i < prefilled; i++)
        add(s->ttft, s->ttft_q, dur_ms);
    if (decoded) {
        r->decode_ns += dur;
        r->decode_steps++;
        r->decode_stall_ns += stall;
    }
    r->iterations++;
    r->tokens += (int64_t)b->n;
}

void step_stats_finish(const step_stats *s, sim_result *r)
{
    r->hit_rate = offload_counts_rates(&r->counts).hit_rate;
    if (r->decode_steps) {
        r->decode_stall_ms_mean = (double)r->decode_stall_ns / 1e6 / (double)r->decode_steps;
        r->decode_compute_ms_mean =
            (double)(r->decode_ns - r->decode_stall_ns) / 1e6 / (double)r->decode_steps;
    }
    r->prefill_stall_share = r->prefill_ns ? (double)r->prefill_stall_ns / (double)r->prefill_ns : 0;
    r->decode_stall_share = r->decode_ns ? (double)r->decode_stall_ns / (double)r->decode_ns : 0;
    r->gpu_stall_share = r->total_ns ? (double)r->gpu_stall_ns / (double)r->total_ns : 0;
    r->pcie_busy_share = r->total_ns ? (double)r->pcie_busy_ns / (double)r->total_ns : 0;
    r->prefill_tokens_per_s = r->prefill_ns ? r->prefill_tokens / (r->prefill_ns * 1e-9) : 0;
    r->decode_tokens_per_s = r->decode_ns ? r->decode_tokens / (r->decode_ns * 1e-9) : 0;
    if (gsl_rstat_n(s->ttft)) {
        r->ttft_ms_mean = gsl_rstat_mean(s->ttft);
        r->ttft_ms_p50 = gsl_rstat_quantile_get(s->ttft_q[0]);
        r->ttft_ms_p90 = gsl_rstat_quantile_get(s->ttft_q[1]);
        r->ttft_ms_p99 = gsl_rstat_quantile_get(s->ttft_q[2]);
    }
    if (gsl_rstat_n(s->tpot)) {
        r->tpot_ms_mean = gsl_rstat_mean(s->tpot);
        r->tpot_ms_p50 = gsl_rstat_quantile_get(s->tpot_q[0]);
        r->tpot_ms_p90 = gsl_rstat_quantile_get(s->tpot_q[1]);
        r->tpot_ms_p99 = gsl_rstat_quantile_get(s->tpot_q[2]);
    }
}
