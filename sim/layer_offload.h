/* layer_offload.h - the ProMoE paper's layer-granular baselines, which keep
 * no expert cache:
 *
 *   stream (TO, transformers/Accelerate offloading): the first n layers live
 *     on the GPU; every other layer's weights, all of them, are copied in
 *     each step, in layer order, into B buffers (2, or 1 where the budget
 *     holds only one), a copy starting as soon as the link and a buffer are
 *     free (a buffer frees when the layer it held has computed), so copies
 *     overlap the compute of earlier layers.  A streamed layer computes once
 *     its copy is done.
 *   cpu (LO, llama.cpp layer offload): the first n layers live and compute
 *     on the GPU; the rest compute on the CPU, where their weights live (the
 *     hardware preset's CPU rate and memory bandwidth), the step's
 *     activations crossing PCIe once at the split; the GPU waits.
 *
 * The memory budget is what an expert cache of `slots` experts would use
 * plus the non-expert weights that cache systems keep resident; n is the
 * most layers that fit in it (stream: beside its buffers).  The GPU's
 * waiting (for copies, for the CPU) is its stall; a resident layer's
 * experts are hits, a streamed or CPU layer's misses.
 */
#ifndef PROMOE_SIM_LAYER_OFFLOAD_H
#define PROMOE_SIM_LAYER_OFFLOAD_H

#include "common/error.h"
#include "sim/engine.h"
#include "traces/trace.h"

/* The layers resident on the GPU, and (stream) the buffers beside them;
 * -1 with an error when the budget cannot hold one layer to stream through. */
int layer_offload_plan(const sim_config *cfg, int *resident, int *buffers, promoe_err *err);

/* Runs the trace read by rd (its model checked by sim_run) under
 * cfg->layer_offload (LAYER_OFFLOAD_STREAM or LAYER_OFFLOAD_CPU). */
int layer_offload_run(trace_reader *rd, const sim_config *cfg, sim_result *out, promoe_err *err);

#endif
