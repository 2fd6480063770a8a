/* results.h - a sweep's results: a journal of JSON lines, one row each,
 * from which the CSV is made.
 *
 * A run of a point appends all its rows (a command may print several, as
 * `predict eval` does one per predictor and stride) in one write, each row
 * carrying "point" (the point's key), "row" and "rows" (its index and the
 * run's row count) and "status" ("ok" or "failed", with "error").  A run
 * killed mid-write leaves at most an unfinished last line, which loading
 * cuts off; a point counts as done only when all its rows are there.  A
 * later run of a point replaces the earlier one in the CSV.
 */
#ifndef PROMOE_EXPERIMENTS_RESULTS_H
#define PROMOE_EXPERIMENTS_RESULTS_H

#include <jansson.h>

#include "common/error.h"

typedef struct results {
    json_t *latest; /* point key -> array of its latest complete run's rows */
    json_t *order;  /* point keys, in the order first seen */
    long long rows_read;
} results;

enum { RESULTS_NONE = 0, RESULTS_OK, RESULTS_FAILED };

/* Reads the journal at path into *r (a missing file is an empty journal).
 * An unfinished last line (no newline: a run killed while writing it, or
 * one being written) is left out; any other line that is not a results
 * row is an error naming the line. */
int results_load(const char *path, results *r, promoe_err *err);

/* Cuts an unfinished last line off the journal at path, so that rows
 * appended next start on a line of their own: only for its one writer. */
int results_cut_unfinished(const char *path, promoe_err *err);

/* Adds the rows (a JSON array of objects) of one run to *r, as if loaded. */
void results_add(results *r, json_t *rows);

/* The rows of the latest run of point key if it is complete (all its rows
 * there), else NULL; borrowed from r. */
json_t *results_complete_run(const results *r, const char *key);

/* RESULTS_NONE, RESULTS_OK or RESULTS_FAILED for the latest complete run
 * of point key. */
int results_status(const results *r, const char *key);

/* Appends the rows to the journal at path in one write, then syncs it. */
int results_append(const char *path, json_t *rows, promoe_err *err);

/* Writes the latest run of every point as CSV at path, atomically: columns
 * are every key seen, in the order first seen ("rows" and "row" left out).
 * Returns the number of rows written, or -1. */
long long results_write_csv(const results *r, const char *path, promoe_err *err);

void results_free(results *r);

#endif
