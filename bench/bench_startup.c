/* bench_startup - how long a promoe command takes before it does any work
 * (make bench): a sweep starts the program once per point, so start-up is
 * paid thousands of times.
 *
 * Each command runs REPS times in a child process of its own; the median
 * and the fastest tenth of the wall times are printed, with the largest
 * peak RSS.  `/bin/true` first: the cost of starting any process here, and
 * the floor of the RSS figure (Linux keeps a process's peak across exec,
 * so a child counts what it shared with this program before: the traces
 * are written by a child, to keep this program small).  The traces
 * are written for the purpose, Mixtral-8x7B's with router weights and
 * hidden states: 64 tokens (start-up alone) and 2 requests (the summary's
 * statistics begin to count). */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gsl/gsl_sort.h>

#include "common/clock.h"
#include "models/model.h"
#include "traces/trace.h"
#include "traces/trace_gen.h"

enum { REPS = 50 };

/* Runs argv REPS times; prints the figures, or returns -1 if a run fails. */
static int time_command(const char *label, char *const argv[])
{
    double ms[REPS];
    long peak_kib = 0;
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    for (int i = 0; i < REPS; i++) {
        fflush(stdout);
        double t0 = clock_now_s();
        pid_t pid;
        int status;
        struct rusage ru;
        if (posix_spawn(&pid, argv[0], &quiet, NULL, argv, environ) != 0 ||
            wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "bench_startup: %s failed\n", label);
            posix_spawn_file_actions_destroy(&quiet);
            return -1;
        }
        ms[i] = (clock_now_s() - t0) * 1e3;
        if (ru.ru_maxrss > peak_kib)
            peak_kib = ru.ru_maxrss;
    }
    posix_spawn_file_actions_destroy(&quiet);
    gsl_sort(ms, 1, REPS);
    printf("  %-34s median %6.2f ms  fastest tenth %6.2f ms  peak RSS %6.1f MiB\n", label,
           ms[REPS / 2], ms[REPS / 10], peak_kib / 1024.0);
    return 0;
}

/* Writes the two traces (in a child: see above); their token counts into
 * tokens. */
static int write_traces(const char *tiny, const char *small, int64_t tokens[2])
{
    int fd[2];
    if (pipe(fd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        promoe_err err;
        model_desc m;
        int64_t got[2];
        if (model_load("mixtral-8x7b", &m, &err) < 0) {
            fprintf(stderr, "bench_startup: %s\n", err.msg);
            _exit(1);
        }
        for (int i = 0; i < 2; i++) {
            trace_gen_params g;
            trace_gen_defaults(&g);
            g.num_requests = i ? 2 : 0;
            g.max_tokens = i ? 0 : 64;
            g.seed = 1;
            if (trace_gen_write(&g, &m, i ? small : tiny, &got[i], &err) < 0) {
                fprintf(stderr, "bench_startup: %s\n", err.msg);
                _exit(1);
            }
        }
        _exit(write(fd[1], got, sizeof got) == (ssize_t)sizeof got ? 0 : 1);
    }
    close(fd[1]);
    int status = 1;
    ssize_t n = pid < 0 ? -1 : read(fd[0], tokens, 2 * sizeof *tokens);
    close(fd[0]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    return n == (ssize_t)(2 * sizeof *tokens) && WIFEXITED(status) && WEXITSTATUS(status) == 0
               ? 0
               : -1;
}

int main(void)
{
    char *promoe = getenv("PROMOE") ? getenv("PROMOE") : "./promoe";
    char tiny[] = "bench-startup-64.h5", small[] = "bench-startup-2req.h5";
    int64_t tokens[2];
    if (write_traces(tiny, small, tokens) < 0)
        return 1;
    printf("start-up benchmark: %d runs each, %s; traces of %lld and %lld tokens\n", REPS,
           promoe, (long long)tokens[0], (long long)tokens[1]);
    char *true_cmd[] = {"/bin/true", NULL};
    char *version[] = {promoe, "version", NULL};
    char *info[] = {promoe, "trace", "info", tiny, NULL};
    char *info2[] = {promoe, "trace", "info", small, NULL};
    char *hits[] = {promoe, "sim", "--hits-only", "-t", tiny, "-c", "0.5", NULL};
    int rc = time_command("/bin/true (any process)", true_cmd) |
             time_command("promoe version", version) |
             time_command("promoe trace info, 64 tokens", info) |
             time_command("promoe trace info, 2 requests", info2) |
             time_command("promoe sim --hits-only, 64 tokens", hits);
    unlink(tiny);
    unlink(small);
    return rc ? 1 : 0;
}
