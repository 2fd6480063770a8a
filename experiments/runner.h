/* runner.h - running a sweep's points on this machine, N at a time.
 *
 * Each input and each point is a child process running promoe (the
 * executable named by `self`) with the expanded command; a point's command
 * gets --json, and every JSON line it prints becomes a results row (with
 * the point's axes; an output key that is an axis or one of the runner's
 * own is kept as out_KEY).  A
 * point already done in the journal is skipped, so a sweep run again
 * resumes where it stopped; a failed point is recorded with the last line
 * it wrote to stderr, and the sweep goes on.  Inputs come first, each made
 * once (an input whose file exists is not made again).
 *
 * Files, under results_dir: NAME.jsonl (the journal), NAME.csv (made from
 * it), inputs/ (the inputs' files); with tasks > 0 (one task of a Slurm job
 * array) the journal is NAME.task-K.jsonl and no CSV is written.
 */
#ifndef PROMOE_EXPERIMENTS_RUNNER_H
#define PROMOE_EXPERIMENTS_RUNNER_H

#include "common/error.h"
#include "experiments/sweep.h"

typedef struct runner_progress {
    const char *phase; /* "inputs" or "points" */
    long long done, total, failed;
    double elapsed_s;
} runner_progress;

typedef struct runner_opts {
    const char *self;        /* the promoe executable */
    const char *name;        /* results file base name (the sweep's, or NAME-quick) */
    const char *results_dir;
    int jobs;                /* children at a time */
    int task, tasks;         /* run only points p with p % tasks == task; tasks 0: all */
    int keep_failed;         /* do not run failed points again */
    void (*progress)(void *ctx, const runner_progress *p);
    void *ctx;
} runner_opts;

typedef struct runner_summary {
    long long points;        /* in the grid (or this task's share) */
    long long already;       /* done before this run */
    long long ran, ok, failed;
    long long inputs_made, inputs_failed;
    long long csv_rows;      /* rows in NAME.csv after the run */
    double seconds;          /* the run's wall time */
    char failed_example[512];/* one failed point's key and error */
} runner_summary;

/* Runs what is left of the sweep; fails only when it cannot go on (no
 * results folder, a corrupt journal, no processes), not when points fail. */
int runner_run(const sweep_def *def, const runner_opts *o, runner_summary *s, promoe_err *err);

/* Paths of the journal and CSV of a sweep (task < 0: the merged journal). */
int runner_journal_path(const runner_opts *o, int task, char *buf, size_t len);
int runner_csv_path(const runner_opts *o, char *buf, size_t len);

/* Makes dir and its parents, like mkdir -p. */
int runner_make_dirs(const char *dir, promoe_err *err);

#endif
