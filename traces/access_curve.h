/* access_curve.h - how concentrated a model's expert accesses are (the
 * paper's Fig. 5: its CDF of expert access frequency).
 *
 * Per layer, the experts sorted from most to least often chosen; the curve
 * gives the share of the layer's accesses that its most frequent x * E
 * experts take, linear between whole experts (x = 1/E: the hottest expert's
 * share; x = 1: all of them, 1.0).  A uniform router gives the diagonal; a
 * static cache of x * E experts a layer hits at most the curve's value.
 * Counts come from a trace (every token, prefill and decode; -1 entries
 * left out) or from a CSV of aggregate counts with the header
 * `layer,expert,count` (as OLMoE's published routing statistics are).
 */
#ifndef PROMOE_TRACES_ACCESS_CURVE_H
#define PROMOE_TRACES_ACCESS_CURVE_H

#include <stdint.h>

#include "common/error.h"

typedef struct access_counts {
    int num_layers, num_experts;
    int *layer_id;   /* [L]: each layer's number as the source names it */
    int64_t *count;  /* [L][E] selections */
    int64_t *sorted; /* [L][E]: each layer's counts, most frequent first */
} access_counts;

/* Fill *c (which the caller frees with access_counts_free) from a trace
 * or from a counts CSV; return -1 with *err set on bad input. */
int access_counts_from_trace(const char *path, access_counts *c, promoe_err *err);
int access_counts_from_csv(const char *path, access_counts *c, promoe_err *err);
void access_counts_free(access_counts *c);

/* The share of layer index l's accesses taken by its top x * E experts
 * (0 <= x <= 1); for l < 0 the mean over the layers with any access.
 * 0 when no layer has one. */
double access_curve_share(const access_counts *c, int l, double x);

#endif
