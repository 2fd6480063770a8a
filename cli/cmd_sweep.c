/* cmd_sweep.c - `promoe sweep`: run a sweep file's grid here or on Slurm. */
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "experiments/results.h"
#include "experiments/runner.h"
#include "experiments/slurm.h"
#include "experiments/sweep.h"

static const char usage[] =
    "usage: promoe sweep FILE.sweep [OPTIONS]\n"
    "       promoe sweep summarize RESULTS.jsonl --metric COLUMN [OPTIONS]\n"
    "\n"
    "Runs every point of a sweep file's grid (each a promoe command; see\n"
    "experiments/README.md for the format), N at a time, and appends each point's\n"
    "rows to RESULTS/NAME.jsonl as it ends; RESULTS/NAME.csv is made from it (the\n"
    "latest run of each point, one row per line the command printed with --json;\n"
    "columns: point, status, error, seconds, the grid's axes, the command's keys).\n"
    "Running the same command again skips the points already done, so a sweep\n"
    "that was stopped resumes where it was.  A point that fails is recorded with\n"
    "its error (status 'failed') and the sweep goes on; it is run again next time\n"
    "unless --keep-failed.  Inputs (traces the points share) are made first, once,\n"
    "under RESULTS/inputs/; a learned predictor that several points train on the\n"
    "same trace is trained once and kept there too (PROMOE_PREDICTOR_CACHE, set to\n"
    "that folder unless you set it yourself).\n"
    "\n"
    "  -j, --jobs N           points run at a time (default 1)\n"
    "      --quick            the thinned grid of the file's [quick] section;\n"
    "                         results go to NAME-quick.*\n"
    "  -r, --results DIR      results folder (default: results/ beside the sweep\n"
    "                         file)\n"
    "      --keep-failed      do not run failed points again\n"
    "  -n, --dry-run          list each point, whether it is done, and its command\n"
    "\n"
    "On a Slurm cluster (the results folder must be on a file system the nodes\n"
    "share):\n"
    "      --slurm            write RESULTS/slurm/NAME.sbatch, a job array of\n"
    "                         --tasks tasks (point p goes to task p mod N, each\n"
    "                         running -j points at a time on as many CPUs), and\n"
    "                         submit it with sbatch\n"
    "      --tasks N          array size (default: the points, at most 64)\n"
    "      --sbatch-arg ARG   passed to sbatch (may be repeated), e.g.\n"
    "                         --sbatch-arg=--partition=short\n"
    "      --wait             wait for the job to end, then --collect\n"
    "      --collect          merge the tasks' results into NAME.jsonl and NAME.csv\n"
    "      --task K           (what each array task runs) only points p with\n"
    "                         p mod --tasks = K, into NAME.task-K.jsonl\n"
    "\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 when every point is done, 1 when some point failed or the\n"
    "sweep could not run (with --collect: some point failed or was not run),\n"
    "2 for a bad command line.  A --task exits 0 when its failed points are\n"
    "recorded: --collect reports them.\n";

enum { OPT_QUICK = 256, OPT_KEEP_FAILED, OPT_SLURM, OPT_TASKS, OPT_TASK, OPT_SBATCH_ARG, OPT_WAIT,
       OPT_COLLECT };

static const struct option options[] = {
    {"jobs", required_argument, NULL, 'j'},
    {"quick", no_argument, NULL, OPT_QUICK},
    {"results", required_argument, NULL, 'r'},
    {"keep-failed", no_argument, NULL, OPT_KEEP_FAILED},
    {"dry-run", no_argument, NULL, 'n'},
    {"slurm", no_argument, NULL, OPT_SLURM},
    {"tasks", required_argument, NULL, OPT_TASKS},
    {"task", required_argument, NULL, OPT_TASK},
    {"sbatch-arg", required_argument, NULL, OPT_SBATCH_ARG},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"collect", no_argument, NULL, OPT_COLLECT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

enum { MAX_SBATCH_ARGS = 32 };

typedef struct sweep_args {
    const char *file, *results;
    int jobs, quick, keep_failed, dry_run, slurm, wait, collect;
    int task, tasks;
    const char *sbatch[MAX_SBATCH_ARGS];
    int num_sbatch;
} sweep_args;

/* "1h02m", "3m05s", "12s" */
static void format_duration(double s, char *buf, size_t len)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, len, "%lds", t);
}

typedef struct progress_state {
    const char *name;
    int tty;
    double last;
    int shown;
} progress_state;

/* On a terminal one line redrawn in place; otherwise (a log, a Slurm task)
 * a line every 10 s, so the log shows the sweep moving without flooding. */
static void show_progress(void *ctx, const runner_progress *p)
{
    progress_state *ps = ctx;
    double every = ps->tty ? 0.2 : 10.0;
    if (p->done < p->total && p->elapsed_s - ps->last < every)
        return;
    ps->last = p->elapsed_s;
    char left[32] = "?";
    double rate = p->elapsed_s > 0 ? (double)p->done / p->elapsed_s : 0;
    if (rate > 0)
        format_duration((double)(p->total - p->done) / rate, left, sizeof left);
    fprintf(stderr, "%spromoe sweep: %s: %s %lld/%lld done, %lld failed, %.2f/s, %s left%s",
            ps->tty ? "\r" : "", ps->name, p->phase, p->done, p->total, p->failed, rate, left,
            ps->tty ? "   " : "\n");
    ps->shown = ps->tty;
}

static int parse_args(int argc, char **argv, sweep_args *a)
{
    const char *cmd = "sweep";
    *a = (sweep_args){.jobs = 1, .task = -1};
    int c;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "j:r:nh", options, cmd)) != -1) {
        switch (c) {
        case 'j':
            if (cli_parse_int_to(cmd, "--jobs", optarg, 1, 4096, &a->jobs) < 0)
                return CLI_USAGE;
            break;
        case 'r': a->results = optarg; break;
        case 'n': a->dry_run = 1; break;
        case OPT_QUICK: a->quick = 1; break;
        case OPT_KEEP_FAILED: a->keep_failed = 1; break;
        case OPT_SLURM: a->slurm = 1; break;
        case OPT_WAIT: a->wait = 1; break;
        case OPT_COLLECT: a->collect = 1; break;
        case OPT_TASKS:
            if (cli_parse_int_to(cmd, "--tasks", optarg, 1, 1000000, &a->tasks) < 0)
                return CLI_USAGE;
            break;
        case OPT_TASK:
            if (cli_parse_int_to(cmd, "--task", optarg, 0, 999999, &a->task) < 0)
                return CLI_USAGE;
            break;
        case OPT_SBATCH_ARG:
            if (a->num_sbatch == MAX_SBATCH_ARGS)
                return cli_usage_error(cmd, "more than %d --sbatch-arg", MAX_SBATCH_ARGS);
            a->sbatch[a->num_sbatch++] = optarg;
            break;
        case 'h': fputs(usage, stdout); exit(CLI_OK);
        default: return CLI_USAGE;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(cmd, optind < argc ? "one sweep file, please (got '%s' too)"
                                                  : "which sweep file?%s",
                               optind < argc ? argv[argc - 1] : "");
    a->file = argv[optind];
    if (a->task >= 0 && a->tasks == 0)
        return cli_usage_error(cmd, "--task needs --tasks");
    if (a->task >= a->tasks && a->task >= 0)
        return cli_usage_error(cmd, "--task %d: expected less than --tasks %d", a->task,
                               a->tasks);
    if (a->tasks && a->task < 0 && !a->slurm)
        return cli_usage_error(cmd, "--tasks goes with --slurm or --task");
    if ((a->wait || a->num_sbatch) && !a->slurm)
        return cli_usage_error(cmd, "--wait and --sbatch-arg go with --slurm");
    if (a->slurm + a->collect + a->dry_run + (a->task >= 0) > 1)
        return cli_usage_error(cmd, "--slurm, --collect, --dry-run and --task go alone");
    return CLI_OK;
}

/* The absolute form of path (which must exist), or of its folder + name. */
static int absolute(const char *path, char *buf)
{
    if (realpath(path, buf))
        return 0;
    char copy[PATH_MAX], rest[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(rest, sizeof rest, "%s", path);
    char dir[PATH_MAX];
    if (!realpath(dirname(copy), dir))
        return -1;
    return snprintf(buf, PATH_MAX, "%s/%s", dir, basename(rest)) < PATH_MAX ? 0 : -1;
}

static int dry_run(const sweep_def *def, const runner_opts *o)
{
    char journal[PATH_MAX], inputs[PATH_MAX], key[1024], cmd[8192];
    promoe_err err;
    results r;
    runner_journal_path(o, -1, journal, sizeof journal);
    snprintf(inputs, sizeof inputs, "%s/inputs", o->results_dir);
    if (results_load(journal, &r, &err) < 0)
        return cli_fail(&err);
    static const char *state[] = {"todo", "done", "failed"};
    for (long long p = 0; p < def->num_points; p++) {
        if (sweep_point_key(def, p, key, sizeof key, &err) < 0 ||
            sweep_run_command(def, p, inputs, cmd, sizeof cmd, &err) < 0) {
            results_free(&r);
            return cli_fail(&err);
        }
        printf("%-6s %s\n       promoe %s\n", state[results_status(&r, key)],
               key, cmd);
    }
    results_free(&r);
    return CLI_OK;
}

static int run_here(const sweep_def *def, const runner_opts *o)
{
    runner_summary s;
    promoe_err err;
    progress_state *ps = o->ctx;
    int rc = runner_run(def, o, &s, &err);
    if (ps->shown)
        fputs("\n", stderr);
    if (rc < 0)
        return cli_fail(&err);
    char took[32], csv[PATH_MAX];
    format_duration(s.seconds, took, sizeof took);
    runner_csv_path(o, csv, sizeof csv);
    fprintf(stderr, "promoe sweep: %s: %lld points: %lld recorded before, %lld ran (%lld ok, %lld "
            "failed) in %s", o->name, s.points, s.already, s.ran, s.ok, s.failed, took);
    if (s.inputs_made || s.inputs_failed)
        fprintf(stderr, "; %lld inputs made, %lld failed", s.inputs_made, s.inputs_failed);
    if (o->tasks > 0)
        fprintf(stderr, "\n");
    else
        fprintf(stderr, "; %s has %lld rows\n", csv, s.csv_rows);
    if (s.failed) {
        fprintf(stderr, "promoe sweep: first failure: %s\n", s.failed_example);
        /* a Slurm task that recorded failed points did its work: --collect
         * reports them */
        return o->tasks > 0 ? CLI_OK : CLI_FAILED;
    }
    return CLI_OK;
}

static int collect(const sweep_def *def, const runner_opts *o)
{
    int files;
    long long rows;
    promoe_err err;
    results r;
    if (slurm_collect(o, &r, &files, &rows, &err) < 0)
        return cli_fail(&err);
    char csv[PATH_MAX], key[1024];
    runner_csv_path(o, csv, sizeof csv);
    long long count[3] = {0, 0, 0};
    for (long long p = 0; p < def->num_points; p++)
        if (sweep_point_key(def, p, key, sizeof key, NULL) == 0)
            count[results_status(&r, key)]++;
    results_free(&r);
    fprintf(stderr, "promoe sweep: %s: merged %d task files; %s has %lld rows; of %lld points "
            "%lld ok, %lld failed, %lld not run\n", o->name, files, csv, rows, def->num_points,
            count[RESULTS_OK], count[RESULTS_FAILED], count[RESULTS_NONE]);
    return count[RESULTS_FAILED] || count[RESULTS_NONE] ? CLI_FAILED : CLI_OK;
}

static int submit(const sweep_def *def, const sweep_args *a, runner_opts *o)
{
    promoe_err err;
    char sweep_abs[PATH_MAX], dir[PATH_MAX + 8], script[PATH_MAX + 64];
    if (absolute(a->file, sweep_abs) < 0)
        return cli_usage_error("sweep", "%s: cannot find its absolute path", a->file);
    snprintf(dir, sizeof dir, "%s/slurm", o->results_dir);
    if (runner_make_dirs(dir, &err) < 0)
        return cli_fail(&err);
    snprintf(script, sizeof script, "%s/%s.sbatch", dir, o->name);
    slurm_job job = {
        .self = o->self, .sweep_path = sweep_abs, .results_dir = o->results_dir,
        .name = o->name, .jobs_per_task = a->jobs, .quick = a->quick,
        .keep_failed = a->keep_failed,
        .tasks = a->tasks ? a->tasks : (int)(def->num_points < 64 ? def->num_points : 64),
    };
    if (slurm_write_script(script, &job, &err) < 0)
        return cli_fail(&err);
    char id[64];
    fprintf(stderr, "promoe sweep: %s: submitting %s (%d tasks, %lld points)%s\n", o->name, script,
            job.tasks, def->num_points, a->wait ? " and waiting for it" : "");
    int rc = slurm_submit(script, a->sbatch, a->num_sbatch, a->wait, id, sizeof id, &err);
    if (rc < 0 && !(a->wait && id[0]))
        return cli_fail(&err);
    if (!a->wait) {
        fprintf(stderr, "promoe sweep: Slurm job %s submitted; when it has ended, run\n"
                "  promoe sweep %s%s --results %s --collect\n", id, a->file,
                a->quick ? " --quick" : "", o->results_dir);
        printf("%s\n", id);
        return CLI_OK;
    }
    if (rc < 0) /* a task failed: collect what the others did, then say so */
        fprintf(stderr, "promoe: %s\n", err.msg);
    return collect(def, o) == CLI_OK && rc == 0 ? CLI_OK : CLI_FAILED;
}

int cmd_sweep(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "summarize") == 0)
        return cmd_sweep_summarize(argc - 1, argv + 1);
    sweep_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != CLI_OK)
        return rc;
    promoe_err err;
    sweep_def def;
    if (sweep_load(a.file, a.quick, &def, &err) < 0)
        return cli_fail(&err);
    char self[PATH_MAX], results_dir[PATH_MAX], name[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        sweep_free(&def);
        promoe_err_set(&err, "cannot find the promoe executable (/proc/self/exe)");
        return cli_fail(&err);
    }
    self[n] = '\0';
    if (a.results) {
        snprintf(results_dir, sizeof results_dir, "%s", a.results);
    } else {
        char copy[PATH_MAX];
        snprintf(copy, sizeof copy, "%s", a.file);
        snprintf(results_dir, sizeof results_dir, "%s/results", dirname(copy));
    }
    if (a.slurm) { /* the tasks run elsewhere: they need absolute paths */
        char abs_dir[PATH_MAX];
        if (runner_make_dirs(results_dir, &err) < 0 ||
            (absolute(results_dir, abs_dir) < 0 &&
             promoe_err_set(&err, "%s: cannot find its absolute path", results_dir) < 0)) {
            sweep_free(&def);
            return cli_fail(&err);
        }
        snprintf(results_dir, sizeof results_dir, "%s", abs_dir);
    }
    snprintf(name, sizeof name, "%s%s", def.name, a.quick ? "-quick" : "");
    /* points that train the same learned predictor train it once
     * (predictors/learned.c), unless the user chose a cache of their own */
    char cache[PATH_MAX + 8];
    snprintf(cache, sizeof cache, "%s/inputs", results_dir);
    setenv("PROMOE_PREDICTOR_CACHE", cache, 0);
    progress_state ps = {.name = name, .tty = isatty(STDERR_FILENO)};
    runner_opts o = {
        .self = self, .name = name, .results_dir = results_dir, .jobs = a.jobs,
        .task = a.task, .tasks = a.task >= 0 ? a.tasks : 0, .keep_failed = a.keep_failed,
        .progress = show_progress, .ctx = &ps,
    };
    if (a.dry_run)
        rc = dry_run(&def, &o);
    else if (a.collect)
        rc = collect(&def, &o);
    else if (a.slurm)
        rc = submit(&def, &a, &o);
    else
        rc = run_here(&def, &o);
    sweep_free(&def);
    return rc;
}
