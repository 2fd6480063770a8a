/* summary.h - a metric of a sweep's results, grouped, with its mean and a
 * confidence interval over the rows of each group (the seeds, typically).
 *
 * Rows are the latest complete, successful run of each point.  A group is
 * the rows sharing the values of the `by` columns; its interval is
 * mean +- t(level, n-1) sd / sqrt(n) (Student's t, from GSL).  With a
 * baseline (axis=value), each row's figure is first divided: baseline's
 * metric / the row's (a speedup, for a time), the baseline being the same
 * point with that axis set to that value (and the same row of it).
 * Groups come in the order first seen, except that where a `by` value is
 * a number in both, groups are in its numeric order.
 */
#ifndef PROMOE_EXPERIMENTS_SUMMARY_H
#define PROMOE_EXPERIMENTS_SUMMARY_H

#include "common/error.h"
#include "experiments/results.h"

enum { SUMMARY_MAX_BY = 8, SUMMARY_MAX_WHERE = 8 };

typedef struct summary_opts {
    const char *metric;
    const char *by[SUMMARY_MAX_BY];
    int num_by;
    const char *where[SUMMARY_MAX_WHERE]; /* "column=value": only rows that match */
    int num_where;
    const char *baseline;                 /* "axis=value", or NULL */
    double level;                         /* of the interval, e.g. 0.95 */
} summary_opts;

typedef struct summary_group {
    char *values[SUMMARY_MAX_BY];
    long n;
    double mean, sd, lo, hi;
    long rank[SUMMARY_MAX_BY]; /* of its value per column, in the order first seen */
} summary_group;

typedef struct summary {
    summary_group *groups; /* in the order first seen */
    long num_groups;
    long rows_used, rows_without_metric, rows_without_baseline;
} summary;

int summary_compute(const results *r, const summary_opts *o, summary *out, promoe_err *err);
void summary_free(summary *s);

#endif
