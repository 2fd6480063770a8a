#include "experiments/slurm.h"

#include <errno.h>
#include <glob.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "experiments/results.h"

extern char **environ;

/* s in single quotes for sh. */
static void put_quoted(FILE *fp, const char *s)
{
    putc('\'', fp);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", fp);
        else
            putc(*s, fp);
    }
    putc('\'', fp);
}

int slurm_write_script(const char *path, const slurm_job *j, promoe_err *err)
{
    atomic_file af;
    if (atomic_file_begin(&af, path, 1, err) < 0)
        return -1;
    FILE *fp = af.fp;
    fprintf(fp, "#!/bin/sh\n"
                "# Written by 'promoe sweep --slurm': task K of the array runs the points p\n"
                "# of the sweep with p mod %d = K and writes %s.task-K.jsonl; when all\n"
                "# have ended, 'promoe sweep SWEEP --collect' merges them.\n",
            j->tasks, j->name);
    fprintf(fp, "#SBATCH --job-name=promoe-%s\n", j->name);
    fprintf(fp, "#SBATCH --array=0-%d\n", j->tasks - 1);
    fprintf(fp, "#SBATCH --cpus-per-task=%d\n", j->jobs_per_task);
    fprintf(fp, "#SBATCH --output=%s/slurm/%s-%%A_%%a.out\n", j->results_dir, j->name);
    fputs("exec ", fp);
    put_quoted(fp, j->self);
    fputs(" sweep ", fp);
    put_quoted(fp, j->sweep_path);
    fputs(" --results ", fp);
    put_quoted(fp, j->results_dir);
    fprintf(fp, " --task \"$SLURM_ARRAY_TASK_ID\" --tasks %d -j %d%s%s\n", j->tasks,
            j->jobs_per_task, j->quick ? " --quick" : "", j->keep_failed ? " --keep-failed" : "");
    return atomic_file_commit(&af, err);
}

int slurm_submit(const char *script, const char *const *extra, int num_extra, int wait,
                 char *id, size_t id_len, promoe_err *err)
{
    const char *argv[64];
    int argc = 0;
    argv[argc++] = "sbatch";
    argv[argc++] = "--parsable";
    if (wait)
        argv[argc++] = "--wait";
    if (num_extra > 58)
        return promoe_err_set(err, "more than 58 sbatch arguments");
    for (int i = 0; i < num_extra; i++)
        argv[argc++] = extra[i];
    argv[argc++] = script;
    argv[argc] = NULL;
    int fds[2];
    if (pipe(fds) < 0)
        return promoe_err_set(err, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = posix_spawnp(&pid, "sbatch", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return promoe_err_set(err, "cannot run sbatch (%s): is Slurm's client installed "
                              "(Debian: slurm-client) and on PATH?", strerror(rc));
    }
    char out[256] = "";
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    out[strcspn(out, ";\r\n")] = '\0'; /* "JOBID[;CLUSTER]" */
    snprintf(id, id_len, "%s", out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (wait && out[0])
            return promoe_err_set(err, "Slurm job %s: a task failed (sbatch --wait exit "
                                  "status %d); see its log", out,
                                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return promoe_err_set(err, "sbatch %s failed (exit status %d; its message is above)",
                              script, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (!out[0])
        return promoe_err_set(err, "sbatch printed no job id");
    return 0;
}

int slurm_collect(const runner_opts *o, results *merged, int *files, long long *rows,
                  promoe_err *err)
{
    char main_path[4096], csv[4096], pattern[4096];
    runner_journal_path(o, -1, main_path, sizeof main_path);
    runner_csv_path(o, csv, sizeof csv);
    snprintf(pattern, sizeof pattern, "%s/%s.task-*.jsonl", o->results_dir, o->name);
    *files = 0;
    glob_t g;
    int grc = glob(pattern, 0, NULL, &g);
    if (grc != 0 && grc != GLOB_NOMATCH)
        return promoe_err_set(err, "%s: cannot list the task files", pattern);
    int rc = 0;
    for (size_t f = 0; grc == 0 && f < g.gl_pathc && rc == 0; f++) {
        results t;
        if (results_load(g.gl_pathv[f], &t, err) < 0) {
            rc = -1;
            break;
        }
        size_t i;
        json_t *key;
        json_t *all = json_array();
        json_array_foreach(t.order, i, key) {
            json_t *run = results_complete_run(&t, json_string_value(key));
            if (run)
                json_array_extend(all, run);
        }
        results_free(&t);
        /* appended first, removed after: a second collect after a crash
         * here appends the same runs again, which replace themselves */
        if (json_array_size(all) && (results_cut_unfinished(main_path, err) < 0 ||
                                     results_append(main_path, all, err) < 0))
            rc = -1;
        else if (unlink(g.gl_pathv[f]) < 0)
            rc = promoe_err_set(err, "%s: cannot remove: %s", g.gl_pathv[f], strerror(errno));
        else
            (*files)++;
        json_decref(all);
    }
    if (grc == 0)
        globfree(&g);
    if (rc < 0)
        return -1;
    if (results_load(main_path, merged, err) < 0)
        return -1;
    *rows = results_write_csv(merged, csv, err);
    if (*rows < 0) {
        results_free(merged);
        return -1;
    }
    return 0;
}
