#include "experiments/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/file_read.h"
#include "experiments/results.h"

enum { CMD_MAX = 8192, PATH_MAX_LEN = 4096 };

int runner_journal_path(const runner_opts *o, int task, char *buf, size_t len)
{
    int n = task < 0 ? snprintf(buf, len, "%s/%s.jsonl", o->results_dir, o->name)
                     : snprintf(buf, len, "%s/%s.task-%d.jsonl", o->results_dir, o->name, task);
    return n < (int)len ? 0 : -1;
}

int runner_csv_path(const runner_opts *o, char *buf, size_t len)
{
    return snprintf(buf, len, "%s/%s.csv", o->results_dir, o->name) < (int)len ? 0 : -1;
}

int runner_make_dirs(const char *dir, promoe_err *err)
{
    char p[PATH_MAX_LEN];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return promoe_err_set(err, "%s: path too long", dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return promoe_err_set(err, "cannot make folder %s: %s", p, strerror(errno));
            *s = c;
            if (!c)
                return 0;
        }
    }
}

/* One child at work: making an input or running a point. */
typedef struct job {
    pid_t pid;
    long long point;
    int input;      /* the input being made, or -1 for a point */
    char path[PATH_MAX_LEN]; /* the input's file */
    double start;
} job;

typedef struct run_state {
    const sweep_def *def;
    const runner_opts *o;
    runner_summary *s;
    results res;
    char journal[PATH_MAX_LEN], csv[PATH_MAX_LEN], inputs_dir[PATH_MAX_LEN], work[PATH_MAX_LEN];
    json_t *failed_inputs; /* input path -> error */
    double start, last_csv;
    runner_progress prog;
} run_state;

static void out_paths(const run_state *st, int slot, char *out, char *errf)
{
    snprintf(out, PATH_MAX_LEN, "%s/%d.out", st->work, slot);
    snprintf(errf, PATH_MAX_LEN, "%s/%d.err", st->work, slot);
}

static pid_t spawn(const char *self, char **argv, const char *out, const char *errf)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed sweep leaves no orphans running */
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fi = open("/dev/null", O_RDONLY);
    if (fo < 0 || fe < 0 || fi < 0)
        _exit(126);
    dup2(fi, 0);
    dup2(fo, 1);
    dup2(fe, 2);
    /* N children at a time: one thread each, not N x cores */
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    setenv("OMP_NUM_THREADS", "1", 0);
    execv(self, argv);
    dprintf(2, "promoe sweep: cannot run %s: %s\n", self, strerror(errno));
    _exit(127);
}

/* A child's output file (NULL if it wrote none or cannot be read). */
static char *read_output(const char *path)
{
    char *text;
    size_t len;
    return file_read_all(path, &text, &len, NULL) == 0 ? text : NULL;
}

/* Why a child failed: the last line it wrote to stderr, else its status. */
static void failure_reason(const char *errf, int status, char *buf, size_t len)
{
    char *text = read_output(errf);
    char *last = NULL;
    for (char *s = text ? strtok(text, "\r\n") : NULL; s; s = strtok(NULL, "\r\n"))
        if (strspn(s, " \t") < strlen(s))
            last = s;
    if (last)
        snprintf(buf, len, "%s", last + strspn(last, " \t"));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    free(text);
}

/* A key of the command's output that a row already has: one of the
 * runner's own or an axis (whose value, as the grid gave it, wins). */
static int is_taken(const sweep_def *def, const char *k)
{
    static const char *const reserved[] = {"point", "status", "error", "seconds", "row", "rows"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(k, reserved[i]) == 0)
            return 1;
    for (int a = 0; a < def->num_axes; a++)
        if (strcmp(k, def->axes[a].name) == 0)
            return 1;
    return 0;
}

static json_t *new_row(const run_state *st, long long p, const char *key, const char *error,
                       double seconds)
{
    json_t *row = json_object();
    json_object_set_new(row, "point", json_string(key));
    for (int a = 0; a < st->def->num_axes; a++)
        json_object_set_new(row, st->def->axes[a].name,
                            json_string(sweep_value(st->def, p, a)));
    json_object_set_new(row, "status", json_string(error ? "failed" : "ok"));
    json_object_set_new(row, "error", json_string(error ? error : ""));
    json_object_set_new(row, "seconds", json_real(seconds));
    return row;
}

/* Marks each row with its index and the run's row count. */
static void number_rows(json_t *rows)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        json_object_set_new(row, "row", json_integer((json_int_t)i));
        json_object_set_new(row, "rows", json_integer((json_int_t)json_array_size(rows)));
    }
}

/* The rows of one finished point, from the JSON lines it printed. */
static json_t *point_rows(const run_state *st, long long p, const char *key, int status,
                          const char *out, const char *errf, double seconds)
{
    json_t *rows = json_array();
    char reason[512] = "";
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        char *text = read_output(out);
        for (char *s = text ? strtok(text, "\n") : NULL; s; s = strtok(NULL, "\n")) {
            if (strspn(s, " \t\r") == strlen(s))
                continue;
            json_error_t jerr;
            json_t *res = json_loads(s, 0, &jerr);
            if (!json_is_object(res)) {
                snprintf(reason, sizeof reason, "printed a line that is not a JSON object: %.80s",
                         s);
                json_decref(res);
                break;
            }
            json_t *row = new_row(st, p, key, NULL, seconds);
            const char *k;
            json_t *v;
            json_object_foreach(res, k, v) {
                char renamed[128];
                snprintf(renamed, sizeof renamed, "out_%s", k); /* keep, do not clash */
                json_object_set(row, is_taken(st->def, k) ? renamed : k, v);
            }
            json_decref(res);
            json_array_append_new(rows, row);
        }
        free(text);
        if (!reason[0] && !json_array_size(rows))
            snprintf(reason, sizeof reason, "printed no results (is the run command's output "
                     "JSON with --json?)");
    } else {
        failure_reason(errf, status, reason, sizeof reason);
    }
    if (reason[0]) {
        json_array_clear(rows);
        json_array_append_new(rows, new_row(st, p, key, reason, seconds));
    }
    number_rows(rows);
    return rows;
}

static int refresh_csv(run_state *st, int force, promoe_err *err)
{
    if (st->o->tasks > 0 || (!force && clock_now_s() - st->last_csv < 2.0))
        return 0;
    st->last_csv = clock_now_s();
    long long n = results_write_csv(&st->res, st->csv, err);
    if (n < 0)
        return -1;
    st->s->csv_rows = n;
    return 0;
}

static void report(run_state *st)
{
    st->prog.elapsed_s = clock_now_s() - st->start;
    if (st->o->progress)
        st->o->progress(st->o->ctx, &st->prog);
}

static int record(run_state *st, long long p, json_t *rows, promoe_err *err)
{
    int rc = results_append(st->journal, rows, err);
    if (rc == 0)
        results_add(&st->res, rows);
    const char *status = json_string_value(json_object_get(json_array_get(rows, 0), "status"));
    if (strcmp(status, "ok") == 0) {
        st->s->ok++;
    } else {
        st->s->failed++;
        st->prog.failed++;
        if (!st->s->failed_example[0]) {
            char key[1024] = "";
            sweep_point_key(st->def, p, key, sizeof key, NULL);
            snprintf(st->s->failed_example, sizeof st->s->failed_example, "%s: %s", key,
                     json_string_value(json_object_get(json_array_get(rows, 0), "error")));
        }
    }
    st->s->ran++;
    st->prog.done++;
    json_decref(rows);
    report(st);
    return rc < 0 ? -1 : refresh_csv(st, 0, err);
}

/* A child of kind `input` (>= 0) or a point (-1) has ended. */
static int finish(run_state *st, const job *j, int slot, int status, promoe_err *err)
{
    char out[PATH_MAX_LEN], errf[PATH_MAX_LEN];
    out_paths(st, slot, out, errf);
    if (j->input >= 0) {
        char reason[512] = "";
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            failure_reason(errf, status, reason, sizeof reason);
        else if (access(j->path, R_OK) != 0)
            snprintf(reason, sizeof reason, "the command ended well but wrote no {output}");
        if (reason[0]) {
            json_object_set_new(st->failed_inputs, j->path, json_string(reason));
            st->s->inputs_failed++;
            st->prog.failed++;
        } else {
            st->s->inputs_made++;
        }
        st->prog.done++;
        report(st);
        return 0;
    }
    char key[1024];
    if (sweep_point_key(st->def, j->point, key, sizeof key, err) < 0)
        return -1;
    json_t *rows = point_rows(st, j->point, key, status, out, errf, clock_now_s() - j->start);
    return record(st, j->point, rows, err);
}

/* Starts a child for a point or an input into slot. */
static int start(run_state *st, job *j, int slot, promoe_err *err)
{
    char cmd[CMD_MAX + 16], *argv[SWEEP_MAX_ARGS + 3];
    if (j->input >= 0) {
        if (sweep_input_path(st->def, j->point, j->input, st->inputs_dir, j->path, sizeof j->path,
                             cmd, CMD_MAX, err) < 0)
            return -1;
    } else if (sweep_run_command(st->def, j->point, st->inputs_dir, cmd, CMD_MAX, err) < 0) {
        return -1;
    }
    argv[0] = "promoe";
    int argc = sweep_split_args(cmd, argv + 1, SWEEP_MAX_ARGS, err);
    if (argc < 0)
        return -1;
    if (j->input < 0)
        argv[++argc] = "--json", argv[argc + 1] = NULL;
    char out[PATH_MAX_LEN], errf[PATH_MAX_LEN];
    out_paths(st, slot, out, errf);
    j->start = clock_now_s();
    j->pid = spawn(st->o->self, argv, out, errf);
    if (j->pid < 0)
        return promoe_err_set(err, "cannot start a process: %s", strerror(errno));
    return 0;
}

/* Runs the n jobs in todo, o->jobs at a time. */
static int run_pool(run_state *st, job *todo, long long n, promoe_err *err)
{
    int slots = st->o->jobs > 0 ? st->o->jobs : 1;
    job *running = calloc((size_t)slots, sizeof *running);
    if (!running)
        return promoe_err_set(err, "out of memory");
    long long next = 0;
    int busy = 0, rc = 0;
    while (next < n || busy) {
        for (int k = 0; k < slots && next < n && rc == 0; k++) {
            if (running[k].pid)
                continue;
            running[k] = todo[next++];
            if (start(st, &running[k], k, err) < 0) {
                running[k].pid = 0;
                rc = -1;
            } else {
                busy++;
            }
        }
        if (!busy)
            break;
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            rc = promoe_err_set(err, "waiting for a child: %s", strerror(errno));
            break;
        }
        for (int k = 0; k < slots; k++) {
            if (running[k].pid != pid)
                continue;
            running[k].pid = 0;
            busy--;
            if (rc == 0 && finish(st, &running[k], k, status, err) < 0)
                rc = -1;
        }
        if (rc < 0)
            next = n; /* start nothing more; let the running ones end */
    }
    free(running);
    return rc;
}

static int mine(const runner_opts *o, long long p)
{
    return o->tasks <= 0 || p % o->tasks == o->task;
}

static int pending(const run_state *st, long long p)
{
    char key[1024];
    if (!mine(st->o, p) || sweep_point_key(st->def, p, key, sizeof key, NULL) < 0)
        return 0;
    int status = results_status(&st->res, key);
    return status == RESULTS_NONE || (status == RESULTS_FAILED && !st->o->keep_failed);
}

/* The inputs the pending points need that are not on disk, input by input
 * (later inputs may read earlier ones). */
static int make_inputs(run_state *st, promoe_err *err)
{
    const sweep_def *d = st->def;
    job *todo = malloc((size_t)d->num_points * sizeof *todo);
    if (!todo)
        return promoe_err_set(err, "out of memory");
    int rc = 0;
    for (int i = 0; i < d->num_inputs && rc == 0; i++) {
        json_t *seen = json_object();
        long long n = 0;
        for (long long p = 0; p < d->num_points && rc == 0; p++) {
            char path[PATH_MAX_LEN], dep[PATH_MAX_LEN];
            if (!pending(st, p))
                continue;
            if (sweep_input_path(d, p, i, st->inputs_dir, path, sizeof path, NULL, 0, err) < 0) {
                rc = -1;
                break;
            }
            if (json_object_get(seen, path) || access(path, R_OK) == 0)
                continue;
            json_object_set_new(seen, path, json_true());
            for (int e = 0; e < i; e++) { /* an earlier input failed: so does this one */
                sweep_input_path(d, p, e, st->inputs_dir, dep, sizeof dep, NULL, 0, NULL);
                json_t *why = json_object_get(st->failed_inputs, dep);
                if (why) {
                    json_object_set(st->failed_inputs, path, why);
                    goto next_point;
                }
            }
            todo[n++] = (job){.point = p, .input = i};
        next_point:;
        }
        json_decref(seen);
        if (rc == 0 && n) {
            st->prog = (runner_progress){.phase = "inputs", .total = n};
            rc = run_pool(st, todo, n, err);
        }
    }
    free(todo);
    return rc;
}

/* A pending point whose input failed fails without running. */
static int failed_input(run_state *st, long long p, char *why, size_t len)
{
    for (int i = 0; i < st->def->num_inputs; i++) {
        char path[PATH_MAX_LEN];
        sweep_input_path(st->def, p, i, st->inputs_dir, path, sizeof path, NULL, 0, NULL);
        json_t *e = json_object_get(st->failed_inputs, path);
        if (e) {
            snprintf(why, len, "input %s: %s", st->def->inputs[i].name, json_string_value(e));
            return 1;
        }
    }
    return 0;
}

static int run_points(run_state *st, promoe_err *err)
{
    const sweep_def *d = st->def;
    job *todo = malloc((size_t)d->num_points * sizeof *todo);
    if (!todo)
        return promoe_err_set(err, "out of memory");
    long long n = 0;
    for (long long p = 0; p < d->num_points; p++)
        if (pending(st, p))
            todo[n++] = (job){.point = p, .input = -1};
    st->prog = (runner_progress){.phase = "points", .total = n};
    int rc = 0;
    long long k = 0;
    for (long long t = 0; t < n && rc == 0; t++) { /* those whose inputs failed */
        char why[600], key[1024];
        if (!failed_input(st, todo[t].point, why, sizeof why)) {
            todo[k++] = todo[t];
            continue;
        }
        rc = sweep_point_key(d, todo[t].point, key, sizeof key, err);
        if (rc == 0) {
            json_t *rows = json_pack("[o]", new_row(st, todo[t].point, key, why, 0));
            number_rows(rows);
            rc = record(st, todo[t].point, rows, err);
        }
    }
    if (rc == 0 && k)
        rc = run_pool(st, todo, k, err);
    free(todo);
    return rc;
}

static void remove_work(const char *dir, int slots)
{
    for (int k = 0; k < slots; k++) {
        char p[PATH_MAX_LEN + 16];
        snprintf(p, sizeof p, "%s/%d.out", dir, k);
        unlink(p);
        snprintf(p, sizeof p, "%s/%d.err", dir, k);
        unlink(p);
    }
    rmdir(dir);
}

int runner_run(const sweep_def *def, const runner_opts *o, runner_summary *s, promoe_err *err)
{
    *s = (runner_summary){0};
    run_state st = {.def = def, .o = o, .s = s, .start = clock_now_s()};
    if (runner_make_dirs(o->results_dir, err) < 0)
        return -1;
    if (runner_journal_path(o, o->tasks > 0 ? o->task : -1, st.journal, sizeof st.journal) < 0 ||
        runner_csv_path(o, st.csv, sizeof st.csv) < 0 ||
        snprintf(st.inputs_dir, sizeof st.inputs_dir, "%s/inputs", o->results_dir) >=
            (int)sizeof st.inputs_dir)
        return promoe_err_set(err, "%s: path too long", o->results_dir);
    if (runner_make_dirs(st.inputs_dir, err) < 0)
        return -1;
    /* one sweep at a time on a journal */
    int lock = open(st.journal, O_RDWR | O_CREAT | O_CLOEXEC, 0644); /* not the children's */
    if (lock < 0)
        return promoe_err_set(err, "%s: %s", st.journal, strerror(errno));
    if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
        close(lock);
        return promoe_err_set(err, "%s: another promoe sweep is writing these results; wait for "
                              "it to end", st.journal);
    }
    int rc = -1;
    if (results_cut_unfinished(st.journal, err) < 0)
        goto out_lock;
    if (o->tasks > 0) { /* points the merged journal already has are done too */
        char merged[PATH_MAX_LEN];
        runner_journal_path(o, -1, merged, sizeof merged);
        if (results_load(merged, &st.res, err) < 0)
            goto out_lock;
        results t;
        if (results_load(st.journal, &t, err) < 0) {
            results_free(&st.res);
            goto out_lock;
        }
        size_t i;
        json_t *key;
        json_array_foreach(t.order, i, key)
            results_add(&st.res, json_object_get(t.latest, json_string_value(key)));
        results_free(&t);
    } else if (results_load(st.journal, &st.res, err) < 0) {
        goto out_lock;
    }
    for (long long p = 0; p < def->num_points; p++)
        if (mine(o, p)) {
            s->points++;
            s->already += !pending(&st, p);
        }
    const char *tmp = getenv("TMPDIR");
    snprintf(st.work, sizeof st.work, "%s/promoe-sweep-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(st.work)) {
        promoe_err_set(err, "cannot make a work folder in %s: %s", tmp && *tmp ? tmp : "/tmp",
                       strerror(errno));
        goto out_results;
    }
    st.failed_inputs = json_object();
    rc = make_inputs(&st, err);
    if (rc == 0)
        rc = run_points(&st, err);
    if (rc == 0)
        rc = refresh_csv(&st, 1, err);
    json_decref(st.failed_inputs);
    s->seconds = clock_now_s() - st.start;
    remove_work(st.work, o->jobs > 0 ? o->jobs : 1);
out_results:
    results_free(&st.res);
out_lock:
    close(lock);
    return rc;
}
