/* report.h - a run's figures, each named once: a key (with its unit) for
 * JSON and CSV and a label for people, printed in the order added as
 * text, one JSON object, or a CSV header and row.  `promoe sim` and
 * `promoe exec` report through it, and name the decision engine's counts
 * alike (report_counts), so a simulated run and a real one compare key by
 * key.  Strings are pointed at, not copied: they must outlive the report. */
#ifndef PROMOE_CLI_REPORT_H
#define PROMOE_CLI_REPORT_H

#include <jansson.h>

#include "offload/engine.h"

typedef struct report_figure {
    const char *key, *label;
    double value;
    int integer;
} report_figure;

enum { REPORT_MAX_NAMES = 16, REPORT_MAX_FIGURES = 80 };

typedef struct report {
    const char *names[REPORT_MAX_NAMES][2]; /* string columns: key, value */
    int num_names;
    report_figure f[REPORT_MAX_FIGURES];
    int n;
} report;

void report_name(report *r, const char *key, const char *value);
void report_fig(report *r, const char *key, const char *label, double value, int integer);
/* The decision engine's counts and the rates they give. */
void report_counts(report *r, const offload_counts *n);
/* The report as one JSON object (the caller's). */
json_t *report_json(const report *r);
void report_print(const report *r, int json, int csv);

#endif
