/* trace_calibrate.h - fits the synthetic generator (trace_gen.h) to a real
 * trace: finds the knobs whose traces have the real trace's statistics
 * (trace_stats.h), each by its own knob:
 *   popularity skew (mean Gini over layers)  <- skew
 *   next-token reuse                          <- token_corr
 *   cross-layer predictability                <- router_corr
 * The statistics rise with their knobs but also move with the others, so
 * the fit bisects each knob in turn, for a few rounds, on probe traces shaped
 * like the real one (its requests' mean prompt and decode lengths, up to
 * CALIBRATE_PROBE_TOKENS tokens: in-sample statistics depend on how many
 * tokens they count).  A target the generator cannot reach is left at the
 * closest it gets, which the result says.
 */
#ifndef PROMOE_TRACES_TRACE_CALIBRATE_H
#define PROMOE_TRACES_TRACE_CALIBRATE_H

#include <stdint.h>

#include "common/error.h"
#include "models/model.h"
#include "traces/trace_gen.h"

#define CALIBRATE_PROBE_TOKENS 4096
#define CALIBRATE_TOLERANCE 0.02 /* a statistic further off than this is missed */

enum calibrate_stat { CAL_SKEW, CAL_REUSE, CAL_CROSS_LAYER, CAL_NUM };

typedef struct trace_calibration {
    int fitted[CAL_NUM];     /* 0: the real trace lacks the statistic (no decode
                                pairs; one layer): its knob is left as given */
    double target[CAL_NUM];  /* the real trace's statistic */
    double reached[CAL_NUM]; /* a probe trace's with the fitted knobs */
    double knob[CAL_NUM];    /* skew, token_corr, router_corr */
    int missed[CAL_NUM];     /* reached is more than CALIBRATE_TOLERANCE off */
    int probes;
    int64_t probe_tokens;
} trace_calibration;

/* The statistic's name, and the trace gen option of its knob. */
const char *trace_calibrate_stat_name(int stat);
const char *trace_calibrate_knob_option(int stat);

/* Fits p's skew, token_corr and router_corr to the trace at REAL_PATH for
 * model m (whose layers, experts and top-k must be the trace's); the rest
 * of p is kept.  Probe traces go to a temporary folder under $TMPDIR.
 * progress(done, total), if not NULL, after each probe. */
int trace_calibrate(const char *real_path, const model_desc *m, trace_gen_params *p,
                    trace_calibration *out, void (*progress)(int64_t done, int64_t total),
                    promoe_err *err);

#endif
