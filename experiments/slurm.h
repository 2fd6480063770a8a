/* slurm.h - a sweep as a Slurm job array: each array task runs its share
 * of the points (point p goes to task p mod N) with `promoe sweep --task`,
 * writing its own journal; collecting merges them into the sweep's.
 *
 * Slurm does the scheduling: this module only writes the batch script,
 * hands it to sbatch, and merges what the tasks wrote.
 */
#ifndef PROMOE_EXPERIMENTS_SLURM_H
#define PROMOE_EXPERIMENTS_SLURM_H

#include <stddef.h>

#include "common/error.h"
#include "experiments/results.h"
#include "experiments/runner.h"

typedef struct slurm_job {
    const char *self;       /* absolute path of promoe */
    const char *sweep_path; /* absolute path of the sweep file */
    const char *results_dir;/* absolute */
    const char *name;       /* results base name */
    int tasks, jobs_per_task, quick, keep_failed;
} slurm_job;

/* Writes the batch script (atomically) at path. */
int slurm_write_script(const char *path, const slurm_job *job, promoe_err *err);

/* Runs `sbatch --parsable [--wait] EXTRA... SCRIPT`; the job id into id.
 * With wait, returns once every task has ended (-1 if one failed, after
 * filling id). */
int slurm_submit(const char *script, const char *const *extra, int num_extra, int wait,
                 char *id, size_t id_len, promoe_err *err);

/* Merges every NAME.task-K.jsonl of o's results folder into NAME.jsonl
 * (appending the latest complete run of each point, then removing the task
 * file) and rewrites NAME.csv; the merged results into *merged (the caller
 * frees them with results_free), the number of task files into *files and
 * of rows in the CSV into *rows. */
int slurm_collect(const runner_opts *o, results *merged, int *files, long long *rows,
                  promoe_err *err);

#endif
