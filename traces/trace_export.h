/* trace_export.h - writing a format v1 trace back out in the importers'
 * text formats, so that import -> export -> import is lossless for routing
 * (experts, gate weights) and token metadata (request, position, phase,
 * iteration).  Request arrival times and dataset names, logits, hidden
 * states and router weights are not part of the text formats. */
#ifndef PROMOE_TRACES_TRACE_EXPORT_H
#define PROMOE_TRACES_TRACE_EXPORT_H

#include "common/error.h"

/* Exports IN_PATH as FORMAT ("jsonl" or "csv") to OUT_PATH, written
 * atomically, or to standard output when OUT_PATH is NULL or "-". */
int trace_export_file(const char *format, const char *in_path, const char *out_path,
                      promoe_err *err);

/* 1 if NAME is an export format. */
int trace_exporter_known(const char *name);

/* Names of the export formats, comma-separated. */
const char *trace_exporter_names(void);

#endif
