/* testutil.h - helpers shared by the Check test programs. */
#ifndef PROMOE_TESTS_TESTUTIL_H
#define PROMOE_TESTS_TESTUTIL_H

#include <check.h>
#include <stddef.h>

#include "exec/backend.h"
#include "sim/cost.h"
#include "traces/trace.h"

/* A fresh temporary folder for this test process; files live under it. */
const char *tu_dir(void);
/* tu_dir()/NAME in a static rotating buffer (several may be live). */
const char *tu_path(const char *name);
/* Writes TEXT to tu_path(NAME) and returns the path. */
const char *tu_write_file(const char *name, const char *text);
/* Writes TEXT as NAME.jsonl (or NAME.csv for format "csv"), imports it in
 * FORMAT with `experts` experts and `layers` layers (0: from the records)
 * as NAME.h5, and returns that path (a tu_path buffer). */
const char *tu_import_text(const char *format, const char *name, const char *text, int experts,
                           int layers);
/* Imports ../shared/data's OLMoE trace (64 experts) as olmoe.h5. */
const char *tu_import_olmoe(void);
/* The shared data folder (../shared/data), or NULL when absent. */
const char *tu_shared_data(void);
/* $PROMOE_SRCDIR/NAME (the source tree's file; "." when unset), in a
 * static buffer. */
const char *tu_src_path(const char *name);
/* 1 if any file in tu_dir() has ".tmp." in its name (a leftover). */
int tu_leftover_tmp(void);
/* Runs a suite and returns the exit status make check expects. */
int tu_run(Suite *s);
/* Adds `test`, which reads ../shared/data, and runs the suite; where the
 * data is absent, runs the rest and returns 77 (skipped), saying that
 * `what` could not be checked. */
int tu_run_with_shared(Suite *s, const TTest *test, const char *what);

/* The "unit" model and hardware whose costs the timing tests work out by
 * hand (tests/test_engine.c gives the figures): 2 layers, 4 experts, top-1,
 * d = f = 10, fp16; 1 GB/s GPU memory, free FLOPs, 0.5 GB/s PCIe, no fixed
 * costs.  Fails the test if they do not load. */
void tu_unit_cost(cost_model *c);

/* Writes tu_path(NAME): a synthetic Mixtral-8x7B trace of `requests`
 * requests (prompt and output means as given) with hidden states `hidden`
 * wide and the router weights, tokens drawn from `token_seed` (0: the
 * model seed's stream); returns the path. */
const char *tu_gen_mixtral(const char *name, int requests, int prompt_mean, int output_mean,
                           int hidden, unsigned long token_seed);
/* The same with the optional datasets `content` (enum trace_content). */
const char *tu_gen_mixtral_with(const char *name, int requests, int prompt_mean,
                                int output_mean, int hidden, unsigned long token_seed,
                                unsigned content);

/* A whole trace in memory, for comparing files. */
typedef struct tu_trace {
    trace_meta meta;
    size_t n;
    int32_t *request, *position, *iteration;
    uint8_t *phase;
    int16_t *experts;
    float *weights; /* NULL if absent */
} tu_trace;

/* Reads PATH through the streaming reader; fails the test on error. */
void tu_trace_load(const char *path, tu_trace *t);
void tu_trace_free(tu_trace *t);
/* Asserts two traces hold the same tokens, experts and weights. */
void tu_trace_assert_same(const tu_trace *a, const tu_trace *b);

/* An executor observer's log of the experts chosen: set pos before each
 * step; tu_log_experts writes each layer's [K] at experts[pos][layer]. */
typedef struct tu_expert_log {
    int L, K, pos;
    int *experts; /* [positions][L][K] */
} tu_expert_log;
int tu_log_experts(void *ctx, const exec_routing *r, promoe_err *err);

#endif
