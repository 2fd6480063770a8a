/* bench_replay - cache replay speed, the figures a reference cache
 * simulator (libCacheSim's cachesim) is compared on (make bench).
 *
 * The stream: a synthetic Mixtral-8x7B trace of 1,000,000 tokens, ids only,
 * uncompressed, on the generator's own knobs (as `promoe trace gen --model
 * mixtral-8x7b --tokens 1000000 --requests 0 --seed 1 --ids-only
 * --compression none --skew 1`: the preset's calibrated skew, 0.21, came
 * after the comparison with libCacheSim was made on it): 64,000,000
 * accesses, key = layer x 8 + expert, 128 slots, one global pool.  For each
 * policy:
 *   in memory    the keys read into an array first, then the cache alone
 *                (Belady's next-use index built from the array, and timed)
 *   end to end   `promoe sim --hits-only` on the file, start-up and trace
 *                reading included
 * each in a child process of its own, with the peak RSS of that child.
 * BENCH_REPLAY_TOKENS sets a smaller stream for a quick look. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "models/model.h"
#include "offload/cache.h"
#include "offload/next_use.h"
#include "traces/trace.h"
#include "traces/trace_gen.h"

enum { SLOTS = 128 };

typedef struct stream {
    int *keys;
    int64_t n;
} stream;

static int stream_read(const char *path, stream *s, promoe_err *err)
{
    trace_reader *r = trace_reader_open(path, 0, err);
    if (!r)
        return -1;
    const trace_meta *m = trace_reader_meta(r);
    int L = m->num_layers, E = m->num_experts, K = m->top_k;
    s->n = 0;
    s->keys = malloc((size_t)m->num_tokens * L * K * sizeof *s->keys);
    if (!s->keys) {
        trace_reader_close(r);
        return promoe_err_set(err, "out of memory");
    }
    trace_iteration it;
    int got;
    while ((got = trace_read_iteration(r, &it, err)) > 0)
        for (size_t j = 0; j < it.num_tokens * (size_t)L * K; j++)
            if (it.experts[j] >= 0)
                s->keys[s->n++] = (int)(j / K % L) * E + it.experts[j];
    trace_reader_close(r);
    return got;
}

/* The cache alone over the array; hits into *hits, seconds returned. */
static double replay_in_memory(const stream *s, const char *policy, int num_keys, int64_t *hits)
{
    promoe_err err;
    int64_t now = 0;
    next_use_clock fut = {.now = &now};
    policy_future future = next_use_clock_future(&fut);
    const cache_policy_ops *ops = policy_find(policy);
    double t0 = clock_now_s();
    if (ops->needs_future) {
        if (next_use_init(&fut.uses, num_keys, s->n, NEXT_USE_DENSE) < 0)
            return -1;
        for (int64_t i = 0; i < s->n; i++)
            next_use_add(&fut.uses, s->keys[i], i);
        next_use_ready(&fut.uses);
    }
    cache_config cc = {.num_layers = 1, .num_experts = num_keys, .slots = SLOTS,
                       .policy = policy, .future = ops->needs_future ? &future : NULL};
    expert_cache *c = cache_create(&cc, &err);
    if (!c)
        return -1;
    int64_t h = 0;
    for (now = 0; now < s->n; now++) {
        int key = s->keys[now], evicted;
        if (cache_resident(c, key)) {
            cache_use(c, key);
            h++;
        } else {
            cache_load(c, key, &evicted);
        }
    }
    double sec = clock_now_s() - t0;
    cache_free(c);
    next_use_free(&fut.uses);
    *hits = h;
    return sec;
}

static void report(const char *policy, const char *how, int64_t accesses, int64_t hits,
                   double sec, const struct rusage *ru)
{
    printf("  %-7s %-11s %10lld accesses  hit rate %.4f  %6.2f s  %6.2f M accesses/s  "
           "peak RSS %6.1f MiB\n", policy, how, (long long)accesses,
           accesses ? (double)hits / (double)accesses : 0, sec, (double)accesses / sec / 1e6,
           ru->ru_maxrss / 1024.0);
    fflush(stdout);
}

static int in_memory_child(const char *path, const char *policy, int num_keys)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        promoe_err err;
        stream s;
        if (stream_read(path, &s, &err) < 0) {
            fprintf(stderr, "bench_replay: %s\n", err.msg);
            _exit(1);
        }
        int64_t hits;
        double sec = replay_in_memory(&s, policy, num_keys, &hits);
        if (sec < 0) {
            fprintf(stderr, "bench_replay: %s: out of memory\n", policy);
            _exit(1);
        }
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        report(policy, "in memory", s.n, hits, sec, &ru);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* promoe sim --hits-only on the file, its output's accesses and hits. */
static int end_to_end(const char *promoe, const char *path, const char *policy)
{
    char out[] = "bench-replay-out-XXXXXX";
    int fd = mkstemp(out);
    if (fd < 0)
        return -1;
    fflush(stdout);
    double t0 = clock_now_s();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        execl(promoe, promoe, "sim", "--hits-only", "-t", path, "--cache", "128", "--policy",
              policy, "--csv", (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    double sec = clock_now_s() - t0;
    FILE *f = fdopen(fd, "r");
    rewind(f);
    char header[4096], row[4096];
    long long accesses = -1, hits = -1;
    if (f && fgets(header, sizeof header, f) && fgets(row, sizeof row, f)) {
        /* the columns named accesses and hits */
        char *hs = NULL, *rs = NULL;
        char *h = strtok_r(header, ",\n", &hs), *v = strtok_r(row, ",\n", &rs);
        for (; h && v; h = strtok_r(NULL, ",\n", &hs), v = strtok_r(NULL, ",\n", &rs)) {
            if (strcmp(h, "accesses") == 0)
                accesses = atoll(v);
            if (strcmp(h, "hits") == 0)
                hits = atoll(v);
        }
    }
    if (f)
        fclose(f);
    unlink(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || accesses < 0 || hits < 0) {
        fprintf(stderr, "bench_replay: promoe sim --policy %s failed\n", policy);
        return -1;
    }
    report(policy, "end to end", accesses, hits, sec, &ru);
    return 0;
}

int main(void)
{
    const char *tokens_env = getenv("BENCH_REPLAY_TOKENS");
    int64_t tokens = tokens_env ? atoll(tokens_env) : 1000000;
    const char *promoe = getenv("PROMOE") ? getenv("PROMOE") : "./promoe";
    promoe_err err;
    model_desc m;
    if (model_load("mixtral-8x7b", &m, &err) < 0) {
        fprintf(stderr, "bench_replay: %s\n", err.msg);
        return 1;
    }
    const char *path = "bench-replay.h5";
    trace_gen_params g;
    trace_gen_defaults(&g);
    g.num_requests = 0;
    g.max_tokens = tokens;
    g.seed = 1;
    g.content = 0;
    g.compression = TRACE_UNCOMPRESSED;
    printf("replay benchmark: Mixtral-8x7B, %lld tokens (%lld accesses), %d slots, global LRU, "
           "FIFO, LFU, Belady\n", (long long)tokens, (long long)tokens * m.num_layers * m.top_k,
           SLOTS);
    if (trace_gen_write(&g, &m, path, NULL, &err) < 0) {
        fprintf(stderr, "bench_replay: %s\n", err.msg);
        return 1;
    }
    static const char *const policies[] = {"lru", "fifo", "lfu", "belady"};
    int rc = 0;
    for (size_t i = 0; i < sizeof policies / sizeof *policies && rc == 0; i++)
        rc = in_memory_child(path, policies[i], m.num_layers * m.num_experts) |
             end_to_end(promoe, path, policies[i]);
    unlink(path);
    return rc ? 1 : 0;
}
