/* The executor's copy thread: which chunk it copies when, checked against
 * orders worked out by hand, with a mover that copies one chunk per permit
 * the test hands out and logs what it copied; slots placed, vacated and
 * fenced as the decision engine would ask. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "exec/expert_store.h"
#include "tests/testutil.h"

enum { KEYS = 8, FLOATS = 12, LOG = 64 };

typedef struct gated {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int permits, entered;
    float source[KEYS][FLOATS];
    char log[LOG][4];         /* "A0": key letter, chunk */
    int n_log;
    int finished[64];         /* copies done, by key (the store's done hook) */
    int refuse;               /* the start hook withdraws this key (-1: none) */
    int fences;
} gated;

static void *gated_alloc(void *ctx, size_t bytes, promoe_err *err)
{
    (void)ctx;
    (void)err;
    return calloc(1, bytes);
}

static void gated_release(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static const void *gated_source(void *ctx, int key)
{
    gated *g = ctx;
    return g->source[key];
}

static int gated_copy(void *ctx, void *dst, const void *src, size_t bytes, promoe_err *err)
{
    (void)err;
    gated *g = ctx;
    pthread_mutex_lock(&g->lock);
    g->entered++;
    pthread_cond_broadcast(&g->changed);
    while (g->permits == 0)
        pthread_cond_wait(&g->changed, &g->lock);
    g->permits--;
    size_t at = (size_t)((const float *)src - &g->source[0][0]);
    if (g->n_log < LOG) {
        g->log[g->n_log][0] = (char)('A' + at / FLOATS);
        g->log[g->n_log][1] = (char)('0' + at % FLOATS / (FLOATS / 3));
        g->n_log++;
    }
    pthread_mutex_unlock(&g->lock);
    memcpy(dst, src, bytes);
    return 0;
}

/* The hooks, called by the copy thread with the store's lock held. */
static int gated_start(void *ctx, int key)
{
    gated *g = ctx;
    return key != g->refuse;
}

static void gated_done(void *ctx, int key)
{
    gated *g = ctx;
    g->finished[key]++;
}

static void gated_fence(void *ctx)
{
    gated *g = ctx;
    pthread_mutex_lock(&g->lock);
    g->fences++;
    pthread_mutex_unlock(&g->lock);
}

/* Two layers of four experts: keys 0-7, A-H. */
static expert_store *gated_store(gated *g, int64_t capacity, int preempt)
{
    memset(g, 0, sizeof *g);
    g->refuse = -1;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->changed, NULL);
    for (int k = 0; k < KEYS; k++)
        for (int i = 0; i < FLOATS; i++)
            g->source[k][i] = (float)(100 * k + i);
    expert_mover mv = {.expert_bytes = FLOATS * sizeof(float), .alloc = gated_alloc,
                       .release = gated_release, .source = gated_source, .copy = gated_copy,
                       .fence = gated_fence, .ctx = g};
    expert_store_config c = {.num_layers = 2, .num_experts = KEYS / 2, .capacity = capacity,
                             .chunks = 3, .preempt = preempt, .streaming = 1,
                             .hooks = {gated_start, gated_done, g}};
    promoe_err err = {{0}};
    expert_store *s = expert_store_create(&mv, &c, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    return s;
}

/* Waits until the copy thread has entered `n` copies. */
static void wait_entered(gated *g, int n)
{
    pthread_mutex_lock(&g->lock);
    while (g->entered < n)
        pthread_cond_wait(&g->changed, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void permit(gated *g, int n)
{
    pthread_mutex_lock(&g->lock);
    g->permits += n;
    pthread_cond_broadcast(&g->changed);
    pthread_mutex_unlock(&g->lock);
}

/* The log as one string: "A0 C0 C1 ..." */
static void log_string(gated *g, char *out)
{
    out[0] = '\0';
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->n_log; i++) {
        strcat(out, g->log[i]);
        if (i + 1 < g->n_log)
            strcat(out, " ");
    }
    pthread_mutex_unlock(&g->lock);
}

/* Places key in a slot (victim's, or a free one: -1) and queues its copy. */
static void load(expert_store *s, int key, int victim, int priority, int64_t order)
{
    expert_store_lock(s);
    expert_store_place(s, key, victim);
    expert_store_copy(s, key, priority, order);
    expert_store_unlock(s);
}

/* Waits for key's copy to end and checks its block holds the expert. */
static void check_block(expert_store *s, int key, gated *g)
{
    promoe_err err = {{0}};
    expert_store_lock(s);
    while (!g->finished[key])
        ck_assert_msg(expert_store_wait(s, &err) == 0, "%s", err.msg);
    const float *block = expert_store_block(s, key);
    ck_assert_mem_eq(block, g->source[key], sizeof g->source[key]);
    expert_store_used(s, key);
    expert_store_unlock(s);
}

static void finish(expert_store *s, gated *g)
{
    expert_store_free(s);
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->changed);
}

/* A prefetch of A (target 10) is copying its first chunk when a prefetch
 * of B (target 5) and a demand for C arrive: C's three chunks go first
 * (A is preempted), then A resumes where it stopped, ahead of the
 * prefetches not begun (the copy queue's rule, the simulator's too: the
 * same order as tests/test_engine.c's copy_engine_queue_order), then B.
 * Without preemption: in the order asked, each copy whole. */
START_TEST(demands_preempt_prefetches_between_chunks)
{
    const char *want[2] = {"A0 A1 A2 B0 B1 B2 C0 C1 C2", "A0 C0 C1 C2 A1 A2 B0 B1 B2"};
    for (int preempt = 0; preempt <= 1; preempt++) {
        gated g;
        expert_store *s = gated_store(&g, 4, preempt);
        load(s, 0, -1, COPY_LOW, 10);
        wait_entered(&g, 1); /* A's first chunk is in flight */
        load(s, 1, -1, COPY_LOW, 5);
        load(s, 2, -1, COPY_HIGH, 0);
        permit(&g, 9);
        for (int k = 0; k < 3; k++)
            check_block(s, k, &g);
        char got[LOG * 3];
        log_string(&g, got);
        ck_assert_str_eq(got, want[preempt]);
        expert_store_stats st = expert_store_stats_of(s);
        ck_assert_int_eq(st.copies, 3);
        ck_assert_int_eq(st.chunks, 9);
        ck_assert_int_eq(st.preemptions, preempt);
        ck_assert_int_eq(st.withdrawn, 0);
        ck_assert_int_eq(st.fences, 0);
        finish(s, &g);
    }
}
END_TEST

/* A prefetch promoted to a demand overtakes a queued prefetch asked
 * before it. */
START_TEST(promoted_prefetch_goes_first)
{
    gated g;
    expert_store *s = gated_store(&g, 4, 1);
    load(s, 0, -1, COPY_LOW, 1);
    wait_entered(&g, 1);
    load(s, 1, -1, COPY_LOW, 2);
    load(s, 3, -1, COPY_LOW, 3);
    expert_store_lock(s);
    expert_store_promote(s, 3);
    expert_store_unlock(s);
    permit(&g, 9);
    check_block(s, 0, &g);
    check_block(s, 1, &g);
    check_block(s, 3, &g);
    char got[LOG * 3];
    log_string(&g, got);
    ck_assert_str_eq(got, "A0 D0 D1 D2 A1 A2 B0 B1 B2");
    finish(s, &g);
}
END_TEST

/* A prefetch dropped while copying stops after its chunk in flight, and
 * its slot, vacated, serves the next expert; a copy the start hook
 * refuses is withdrawn before any chunk. */
START_TEST(dropped_and_refused_copies_stop)
{
    gated g;
    expert_store *s = gated_store(&g, 1, 1);
    load(s, 0, -1, COPY_LOW, 1);
    wait_entered(&g, 1);
    expert_store_lock(s);
    ck_assert_int_eq(expert_store_drop(s, 0), 1); /* A, mid-copy */
    expert_store_vacate(s, 0);
    g.refuse = 2;
    expert_store_place(s, 2, -1);
    expert_store_copy(s, 2, COPY_HIGH, 0); /* C: refused when it would start */
    expert_store_vacate(s, 2);
    expert_store_place(s, 1, -1);
    expert_store_copy(s, 1, COPY_HIGH, 0);
    ck_assert_int_eq(expert_store_drop(s, 1), 0); /* a demand is not dropped */
    expert_store_unlock(s);
    permit(&g, 4);
    check_block(s, 1, &g);
    char got[LOG * 3];
    log_string(&g, got);
    ck_assert_str_eq(got, "A0 B0 B1 B2");
    ck_assert_int_eq(g.finished[0] + g.finished[2], 0);
    ck_assert_int_eq(expert_store_stats_of(s).withdrawn, 2);
    finish(s, &g);
}
END_TEST

/* A slot computed from since the last expert_store_computed may still be
 * read by the device: a copy into it waits for a fence; once the host has
 * read the computation's results it need not.  An expert without a slot
 * streams through its layer's scratch buffer, fenced alike. */
START_TEST(slots_still_read_are_fenced)
{
    gated g;
    expert_store *s = gated_store(&g, 1, 1);
    permit(&g, 12);
    load(s, 0, -1, COPY_HIGH, 0);
    check_block(s, 0, &g); /* A computed from its slot */
    load(s, 1, 0, COPY_HIGH, 0); /* B takes A's slot at once */
    check_block(s, 1, &g);
    ck_assert_int_eq(g.fences, 1);
    expert_store_lock(s);
    expert_store_computed(s); /* B's computation has ended */
    expert_store_unlock(s);
    load(s, 2, 1, COPY_HIGH, 0);
    check_block(s, 2, &g);
    ck_assert_int_eq(g.fences, 1);
    /* F (layer 1, expert 1) has no slot: it streams through scratch */
    expert_store_lock(s);
    expert_store_copy(s, 5, COPY_HIGH, 0);
    expert_store_unlock(s);
    check_block(s, 5, &g);
    ck_assert_int_eq(g.fences, 1);
    ck_assert_int_eq(expert_store_stats_of(s).fences, 1);
    finish(s, &g);
}
END_TEST

/* The CPU mover copies a model's experts: every slot equals its expert. */
START_TEST(cpu_mover_copies_experts)
{
    model_desc m;
    promoe_err err = {{0}};
    ck_assert_int_eq(model_load("tiny", &m, &err), 0);
    exec_weights w;
    ck_assert_msg(exec_weights_synthetic(&m, 3, &w, &err) == 0, "%s", err.msg);
    expert_mover mv = expert_mover_cpu(&w);
    int keys = m.num_layers * m.num_experts;
    ck_assert_int_le(keys, 64);
    gated g = {0}; /* its hooks only: which copies have ended */
    g.refuse = -1;
    expert_store_config c = {.num_layers = m.num_layers, .num_experts = m.num_experts,
                             .capacity = 5, .chunks = 3, .preempt = 1,
                             .hooks = {gated_start, gated_done, &g}};
    expert_store *s = expert_store_create(&mv, &c, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    size_t block = exec_expert_floats(&m);
    for (int key = 0; key < keys; key++) {
        load(s, key, key >= 5 ? key - 5 : -1, key % 2 ? COPY_LOW : COPY_HIGH, key);
        expert_store_lock(s);
        while (!g.finished[key])
            ck_assert_msg(expert_store_wait(s, &err) == 0, "%s", err.msg);
        const float *slot = expert_store_block(s, key);
        expert_store_unlock(s);
        const float *want = w.layers[key / m.num_experts].experts +
                            (size_t)(key % m.num_experts) * block;
        ck_assert_mem_eq(slot, want, block * sizeof(float));
    }
    ck_assert_int_eq(expert_store_stats_of(s).copies, keys);
    ck_assert(expert_store_time_copy(s, mv.expert_bytes, 3, &err) > 0);
    expert_store_free(s);
    exec_weights_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("expert_store");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, demands_preempt_prefetches_between_chunks);
    tcase_add_test(tc, promoted_prefetch_goes_first);
    tcase_add_test(tc, dropped_and_refused_copies_stop);
    tcase_add_test(tc, slots_still_read_are_fenced);
    tcase_add_test(tc, cpu_mover_copies_experts);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
