/* trace_builder.h - assembles a trace from routing records that arrive in
 * any order, one per (request, token, layer), as importers read them.
 *
 * The builder keeps every record in memory, then sorts them into tokens and
 * iterations and writes the trace through the one writer.  Without
 * iteration numbers, the prefill tokens of a request form one iteration and
 * each decode token its own, requests in id order.  Layers a token lacks
 * are stored as -1 (missing) and counted.
 */
#ifndef PROMOE_TRACES_TRACE_BUILDER_H
#define PROMOE_TRACES_TRACE_BUILDER_H

#include <stdint.h>

#include "common/error.h"
#include "traces/trace.h"

typedef struct trace_record {
    int64_t request;
    int64_t token;        /* position within the request */
    int phase;            /* TRACE_PREFILL or TRACE_DECODE */
    int64_t layer;
    int64_t iteration;    /* -1 when the source has none */
    int num_experts;      /* entries in experts (and weights) */
    const int64_t *experts;
    const double *weights; /* NULL when the source has none */
    long line;            /* source line, for messages */
} trace_record;

/* What the records added so far hold. */
typedef struct trace_shape {
    int num_layers;  /* highest layer + 1 */
    int top_k;       /* longest expert list */
    int max_expert;  /* largest expert id */
} trace_shape;

typedef struct trace_build_report {
    int64_t records;
    int64_t tokens;
    int64_t iterations;
    int64_t requests;
    int64_t missing;      /* (token, layer) pairs with no record */
    trace_shape seen;     /* what the records held */
} trace_build_report;

typedef struct trace_builder trace_builder;

/* SOURCE names the input in messages ("file.jsonl").  num_experts bounds
 * the ids; top_k 0 means the longest expert list seen; num_layers 0 means
 * the highest layer seen + 1. */
trace_builder *trace_builder_create(const char *source, int num_experts, int top_k,
                                    int num_layers, promoe_err *err);

/* Checks and stores one record; errors read "SOURCE:LINE: problem". */
int trace_builder_add(trace_builder *b, const trace_record *rec, promoe_err *err);

/* The shape of the records added so far, for checks against a model. */
trace_shape trace_builder_seen(const trace_builder *b);

/* Sorts, checks for duplicates and disagreements, and writes the trace
 * (compression: enum trace_compression).  Shapes come from the records. */
int trace_builder_write(trace_builder *b, const char *path, const char *model,
                        const char *source, const char *dataset, int compression,
                        trace_build_report *rep, promoe_err *err);

void trace_builder_free(trace_builder *b);

#endif
