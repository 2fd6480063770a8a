/* trace_import.h - bringing traces recorded by other tools into format v1.
 *
 * Importers are a registry of readers looked up by format name; each turns
 * its input into routing records for a trace_builder, which sorts and writes
 * them.  Adding a format means one new file and one line in the registry in
 * trace_import.c.  Errors read "FILE:LINE: problem"; the output appears only
 * when the whole input was read (atomic write).
 */
#ifndef PROMOE_TRACES_TRACE_IMPORT_H
#define PROMOE_TRACES_TRACE_IMPORT_H

#include <stdio.h>

#include "common/error.h"
#include "traces/trace_builder.h"

/* The fields a record carries; jsonl maps each to a JSON key. */
enum import_field {
    FIELD_REQUEST,
    FIELD_TOKEN,
    FIELD_PHASE,
    FIELD_LAYER,
    FIELD_EXPERTS,
    FIELD_WEIGHTS,
    FIELD_ITERATION,
    IMPORT_NUM_FIELDS
};
extern const char *const import_field_names[IMPORT_NUM_FIELDS];

typedef struct trace_import_opts {
    int num_experts;     /* required: ids alone do not reveal E */
    int top_k;           /* 0: the longest expert list in the input */
    int num_layers;      /* 0: the highest layer seen + 1 */
    const char *model;   /* stored as the model attribute */
    int model_layers;    /* the model's shape, which the data must have */
    int model_top_k;     /*   (0: no model to check against) */
    const char *dataset; /* stored in requests/dataset */
    int compression;     /* enum trace_compression */
    const char *keys[IMPORT_NUM_FIELDS]; /* JSON keys, default = field names */
    int norm_topk_prob;  /* logits importers: top-k weights renormalised (1), not
                            (0), unknown (-1) */
    const char *split;   /* logits importers: "P:O,..." per request, or NULL */
} trace_import_opts;

typedef struct trace_importer {
    const char *name;
    const char *summary;
    /* Reads IN, opened from the file NAME, into the builder. */
    int (*read)(FILE *in, const char *name, const trace_import_opts *o, trace_builder *b,
                promoe_err *err);
} trace_importer;

void trace_import_defaults(trace_import_opts *o);

/* Applies "FIELD=KEY" (e.g. "token=token_idx"). */
int trace_import_map_field(trace_import_opts *o, const char *spec, promoe_err *err);

const trace_importer *trace_importer_find(const char *name);
/* Names of all importers, comma-separated. */
const char *trace_importer_names(void);
/* The registry, NULL-terminated, for help texts. */
extern const trace_importer *const trace_importers[];

int trace_import_file(const char *format, const trace_import_opts *o, const char *in_path,
                      const char *out_path, trace_build_report *rep, promoe_err *err);

/* Helpers shared by the line-oriented importers. */

/* Reads the next non-blank line into *line (getline buffer), strips the
 * newline, counts lines in *lineno.  Returns 1, 0 at EOF, -1 on error. */
int import_next_line(FILE *in, char **line, size_t *cap, long *lineno);

/* Calls on_object for the JSON value of every non-blank line of IN;
 * invalid JSON is reported as "NAME:LINE: invalid JSON: ...".  Stops at the
 * first non-zero return. */
struct json_t;
int import_each_json_line(FILE *in, const char *name,
                          int (*on_object)(struct json_t *root, long lineno, void *ctx),
                          void *ctx, promoe_err *err);

/* "prefill"/"decode" or 0/1 to a phase; -1 if neither. */
int import_parse_phase(const char *s);

#endif
