/* bench_sim - simulator throughput and memory (make bench).
 *
 * Replays synthetic Mixtral-8x7B-shaped traces (32 layers, top-2, ids only)
 * of 100k and 1M tokens on the RTX 4090 preset with half the experts
 * cached: LRU without a predictor, and the oracle with chunked prefetch,
 * preemption and reordering.  Each run is a child process, so the peak RSS
 * printed is that run's alone.  Figures: token-layer steps per second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "sim/engine.h"
#include "traces/trace_gen.h"

static int run_child(const char *path, const char *label, int prefetching)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        promoe_err err;
        sim_config c;
        sim_config_defaults(&c);
        if (model_load("mixtral-8x7b", &c.cost.model, &err) < 0 ||
            hw_load("rtx4090-pcie4", &c.cost.hw, &err) < 0) {
            fprintf(stderr, "bench_sim: %s\n", err.msg);
            _exit(1);
        }
        c.offload.slots = 128;
        if (prefetching) {
            c.offload.predictor = "oracle";
            c.offload.chunks = 3;
            c.offload.preempt = 1;
            c.offload.reorder = 1;
        }
        sim_result r;
        double t0 = clock_now_s();
        if (sim_run(path, &c, &r, &err) < 0) {
            fprintf(stderr, "bench_sim: %s\n", err.msg);
            _exit(1);
        }
        double s = clock_now_s() - t0;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double steps = (double)r.tokens * c.cost.model.num_layers;
        printf("  %-34s %8lld tokens  %6.2f s  %6.2f M token-layer steps/s  peak RSS %6.1f MB\n",
               label, (long long)r.tokens, s, steps / s / 1e6, ru.ru_maxrss / 1024.0);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(void)
{
    const int64_t sizes[] = {100000, 1000000};
    promoe_err err;
    model_desc m;
    if (model_load("mixtral-8x7b", &m, &err) < 0) {
        fprintf(stderr, "bench_sim: %s\n", err.msg);
        return 1;
    }
    printf("simulator benchmark: Mixtral-8x7B-shaped traces, rtx4090-pcie4, 128 of 256 experts "
           "cached\n");
    for (int i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof path, "bench-sim-%lld.h5", (long long)sizes[i]);
        trace_gen_params g;
        trace_gen_defaults(&g);
        g.num_requests = 0;
        g.max_tokens = sizes[i];
        g.hidden_dim = 4;
        g.content = 0;
        if (trace_gen_write(&g, &m, path, NULL, &err) < 0) {
            fprintf(stderr, "bench_sim: %s\n", err.msg);
            return 1;
        }
        int rc = run_child(path, "lru, no predictor", 0) |
                 run_child(path, "oracle + chunks 3, preempt, reorder", 1);
        unlink(path);
        if (rc)
            return 1;
    }
    return 0;
}
