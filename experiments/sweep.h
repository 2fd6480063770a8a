/* sweep.h - a sweep file: a grid of parameters and the promoe command each
 * point of the grid runs.
 *
 * A sweep file is INI (read with libinih):
 *
 *   [sweep]
 *   description = what the results show
 *   run = sim --trace {trace} --system {system} --cache {cache}
 *
 *   [grid]              ; comma-separated values; every combination is a point
 *   system = reactive-lru, promoe
 *   cache = 0.25, 0.5
 *   seed = 1, 2, 3
 *
 *   [quick]             ; optional: values that replace the grid's in --quick
 *   seed = 1
 *
 *   [inputs]            ; optional: files made once, before the points needing
 *   trace = trace gen --model {model} --seed {seed} -o {output}
 *
 * {NAME} in `run` and in inputs is replaced by the point's value of axis
 * NAME or by the path of input NAME (inputs may use earlier inputs); {output}
 * in an input is the file it must write; {here} is the sweep file's folder
 * (absolute), for files kept beside it; {shared} is the real data of
 * ../shared/data: $PROMOE_SHARED_DATA, or {here}/../../shared/data (the
 * repository's sibling, for the sweeps in experiments/).  An input's path is derived from
 * its expanded command, so the same command is run once and its file is
 * shared by every point and sweep that needs it.  Commands are split at
 * whitespace, so values may not contain any.
 *
 * A point is identified by its key, "axis=value axis=value ..." in the
 * grid's order; results are matched to points by it.
 */
#ifndef PROMOE_EXPERIMENTS_SWEEP_H
#define PROMOE_EXPERIMENTS_SWEEP_H

#include <stddef.h>

#include "common/error.h"

enum { SWEEP_MAX_AXES = 16, SWEEP_MAX_VALUES = 256, SWEEP_MAX_INPUTS = 8, SWEEP_MAX_ARGS = 128 };

typedef struct sweep_axis {
    char *name;
    char *values[SWEEP_MAX_VALUES];
    int num_values;
} sweep_axis;

typedef struct sweep_input {
    char *name;
    char *command;
} sweep_input;

typedef struct sweep_def {
    char *path;          /* as given */
    char *dir;           /* its folder, absolute */
    char *shared;        /* what {shared} stands for */
    char *name;          /* the file's name without folder and .sweep */
    char *description;
    char *run;
    sweep_axis axes[SWEEP_MAX_AXES];
    int num_axes;
    sweep_input inputs[SWEEP_MAX_INPUTS];
    int num_inputs;
    long long num_points;
} sweep_def;

/* Reads and checks a sweep file: every {NAME} must name an axis or an
 * earlier input.  With quick, the [quick] section's values replace the
 * grid's.  On success the caller frees with sweep_free. */
int sweep_load(const char *path, int quick, sweep_def *def, promoe_err *err);
void sweep_free(sweep_def *def);

/* The value of axis a at point p (0 <= p < num_points; the last axis
 * varies fastest). */
const char *sweep_value(const sweep_def *def, long long p, int a);

/* Point p's key into buf ("system=promoe cache=0.5 seed=1"). */
int sweep_point_key(const sweep_def *def, long long p, char *buf, size_t len, promoe_err *err);

/* Where input i of point p lives: INPUTS_DIR/NAME-HASH.h5, HASH taken from
 * its expanded command; also that command (with {output} replaced by the
 * path) if cmd is not NULL. */
int sweep_input_path(const sweep_def *def, long long p, int i, const char *inputs_dir,
                     char *path, size_t path_len, char *cmd, size_t cmd_len, promoe_err *err);

/* Point p's run command, expanded, into buf. */
int sweep_run_command(const sweep_def *def, long long p, const char *inputs_dir, char *buf,
                      size_t len, promoe_err *err);

/* Splits a command at whitespace into argv (NULL-terminated) pointing into
 * buf, which it modifies; returns argc or -1 when there are too many. */
int sweep_split_args(char *buf, char **argv, int max, promoe_err *err);

#endif
