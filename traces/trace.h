/* trace.h - the expert-activation trace, format v1 (HDF5).
 *
 * A trace records, for every token of every request and every MoE layer,
 * the experts the router chose (rank order, -1 = missing), and optionally
 * their gate weights, the full router logits, the hidden state entering the
 * layer, and the router weights.  Tokens are stored in iteration order: the
 * prefill tokens of one request form one iteration, each decode step is one
 * iteration (several requests' tokens when batched).
 *
 * Layout (DESIGN.md, "Trace format v1", declared in trace_format.def, which
 * the Python recorder reads too): root attributes format, version,
 * model, num_layers, num_experts, top_k, hidden_dim, source; datasets
 * tokens/{request,position,phase,iteration}, routing/experts [N,L,K] int16,
 * routing/weights [N,L,K] float32, routing/logits [N,L,E] float32,
 * hidden/input [N,L,D] float16, model/router_weight [L,E,D] float16,
 * requests/{id,prompt_len,output_len,arrival_s,dataset}.  An optional root
 * attribute hidden_layer_stride = S (> 1) says hidden/input holds layers 0,
 * S, 2S, ... only, the others zeros (a recorder keeping every S-th layer);
 * readers that need every layer's hidden state refuse such a trace.
 *
 * This module promises: one writer that every producer uses (atomic: the
 * file appears complete or not at all), a streaming reader that holds about
 * one block of tokens in memory whatever the file's size, and validation
 * that turns every malformed file into one error line naming the file.
 */
#ifndef PROMOE_TRACES_TRACE_H
#define PROMOE_TRACES_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define TRACE_NAME_MAX 128        /* model and source strings */

/* The format's numbers, from its one declaration (trace_format.def):
 * TRACE_FORMAT_VERSION, TRACE_DATASET_NAME_MAX (width of requests/dataset),
 * and the writer's chunking and compression settings. */
enum trace_format_const {
#define TRACE_CONST(name, value) TRACE_##name = value,
#include "traces/trace_format.def"
};

/* Limits that keep a hostile header from asking for absurd memory. */
#define TRACE_MAX_LAYERS 1024
#define TRACE_MAX_EXPERTS 32767   /* ids are int16 */
#define TRACE_MAX_TOP_K 256
#define TRACE_MAX_HIDDEN 65536

enum trace_phase { TRACE_PREFILL = 0, TRACE_DECODE = 1 };

/* Which optional datasets a trace has (writer) or a reader should load. */
enum trace_content {
    TRACE_WEIGHTS = 1u << 0,       /* routing/weights */
    TRACE_LOGITS = 1u << 1,        /* routing/logits */
    TRACE_HIDDEN = 1u << 2,        /* hidden/input */
    TRACE_ROUTER_WEIGHT = 1u << 3, /* model/router_weight */
};

/* How the writer stores datasets; readers need no setting. */
enum trace_compression {
    TRACE_GZIP = 0,  /* shuffle + deflate level 1: readable by any HDF5 */
    TRACE_UNCOMPRESSED = 1, /* larger files, several times faster to read */
};

typedef struct trace_meta {
    char model[TRACE_NAME_MAX];
    char source[TRACE_NAME_MAX];
    int num_layers;   /* L */
    int num_experts;  /* E */
    int top_k;        /* K */
    int hidden_dim;   /* D, 0 when the trace has no hidden states */
    int hidden_layer_stride; /* hidden states of every S-th layer (0 or 1: all) */
    unsigned content; /* enum trace_content bits present in the file */
    int64_t num_tokens;
    int64_t num_requests;
    int compression;  /* enum trace_compression; used by the writer only */
} trace_meta;

/* "gzip" or "none" to an enum trace_compression; -1 if neither. */
int trace_compression_parse(const char *name);

typedef struct trace_request {
    int32_t id;
    int32_t prompt_len;
    int32_t output_len;
    double arrival_s;
    char dataset[TRACE_DATASET_NAME_MAX];
} trace_request;

/* One iteration's tokens.  Row-major arrays: experts[t*L*K + l*K + k].
 * Optional arrays are NULL when absent or not requested. */
typedef struct trace_iteration {
    int64_t first_token;   /* index of tokens[0] in the trace */
    int32_t id;            /* the tokens/iteration value */
    size_t num_tokens;
    const int32_t *request;
    const int32_t *position;
    const uint8_t *phase;
    const int16_t *experts; /* [n][L][K] */
    const float *weights;   /* [n][L][K] */
    const float *logits;    /* [n][L][E] */
    const float *hidden;    /* [n][L][D] */
} trace_iteration;

/* ---- writing ---------------------------------------------------------- */

typedef struct trace_writer trace_writer;

/* Starts a trace at PATH (written to a temporary name until commit).
 * meta->content says which optional datasets will be given; num_tokens and
 * num_requests are ignored (counted as data is appended). */
trace_writer *trace_writer_create(const char *path, const trace_meta *meta,
                                  promoe_err *err);

/* Appends one iteration.  it->id and the array pointers are read; arrays
 * for optional datasets the writer was created with must be present.
 * Iteration ids must not decrease. */
int trace_writer_append(trace_writer *w, const trace_iteration *it,
                        promoe_err *err);

int trace_writer_add_request(trace_writer *w, const trace_request *req,
                             promoe_err *err);

/* Router weights, [L][E][D] floats (stored as float16). */
int trace_writer_set_router_weight(trace_writer *w, const float *weight,
                                   promoe_err *err);

/* Writes the request table and attributes, closes, and renames the file
 * into place.  Frees the writer whether it succeeds or not. */
int trace_writer_commit(trace_writer *w, promoe_err *err);

/* Discards everything written so far; frees the writer. */
void trace_writer_abort(trace_writer *w);

/* ---- reading ---------------------------------------------------------- */

typedef struct trace_reader trace_reader;

/* Opens and validates PATH: format and version attributes, dimensions,
 * dataset shapes and types, and the request table.  `load` selects the
 * optional datasets to read (bits not present in the file are an error,
 * so callers ask only for what they need: see trace_reader_meta).
 * Token contents (ids in range, phases, iteration order) are checked block
 * by block as they are read, before any of a block is handed out. */
trace_reader *trace_reader_open(const char *path, unsigned load, promoe_err *err);

const trace_meta *trace_reader_meta(const trace_reader *r);
const trace_request *trace_reader_requests(const trace_reader *r);

/* Yields the next iteration: returns 1 and fills *it (pointers valid until
 * the next call), 0 at the end, -1 on error. */
int trace_read_iteration(trace_reader *r, trace_iteration *it, promoe_err *err);

/* Starts again from the first token (for multi-pass analyses). */
void trace_reader_rewind(trace_reader *r);

/* Router weights [L][E][D] as floats, or NULL if the file has none.  The
 * reader owns the array. */
const float *trace_reader_router_weight(trace_reader *r, promoe_err *err);

/* Bytes of token data the reader holds in its buffers now. */
size_t trace_reader_buffer_bytes(const trace_reader *r);

void trace_reader_close(trace_reader *r);

/* Opens PATH only to read its metadata. */
int trace_read_meta(const char *path, trace_meta *meta, promoe_err *err);

/* Rounds n floats in place as a trace stores hidden states and router
 * weights (float16), so that a running model's predictor sees what a
 * replay of its trace sees. */
void trace_round_stored(float *v, size_t n);

/* Whether a (token, layer) record is missing: none of its top_k entries
 * names an expert (an importer stores a layer it did not find as all -1).
 * Every rate over records (next-token reuse in trace info, precision and
 * recall in predict eval) leaves a missing record out of numerator and
 * denominator alike, rather than counting it as a miss. */
int trace_record_missing(const int16_t *experts, int top_k);

#endif
