/* The event queue pops in (time, insertion) order: checked against qsort
 * of the same events, with many equal times, and interleaved pushes. */
#include <gsl/gsl_rng.h>
#include <stdlib.h>

#include "sim/event_queue.h"
#include "tests/testutil.h"

static int by_time_then_seq(const void *pa, const void *pb)
{
    const sim_event *a = pa, *b = pb;
    if (a->time_ns != b->time_ns)
        return a->time_ns < b->time_ns ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

START_TEST(pops_in_time_then_insertion_order)
{
    enum { N = 20000 };
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    event_queue q;
    event_queue_init(&q);
    sim_event *ref = malloc(N * sizeof *ref);
    for (int i = 0; i < N; i++) {
        int64_t t = (int64_t)gsl_rng_uniform_int(rng, 500); /* many ties */
        ck_assert_int_eq(event_queue_push(&q, t, i % 7, i, -i), 0);
        ref[i] = (sim_event){t, (uint64_t)i, i % 7, i, -i};
    }
    qsort(ref, N, sizeof *ref, by_time_then_seq);
    sim_event e;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(event_queue_pop(&q, &e), 1);
        ck_assert_int_eq(e.time_ns, ref[i].time_ns);
        ck_assert_int_eq(e.a, ref[i].a);
        ck_assert_int_eq(e.b, ref[i].b);
        ck_assert_int_eq(e.kind, ref[i].kind);
    }
    ck_assert_int_eq(event_queue_pop(&q, &e), 0);
    ck_assert_ptr_null(event_queue_peek(&q));
    free(ref);
    event_queue_free(&q);
    gsl_rng_free(rng);
}
END_TEST

START_TEST(interleaved_pushes_and_pops)
{
    /* a simulation pushes events no earlier than the one it just popped:
     * popped times never decrease */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    event_queue q;
    event_queue_init(&q);
    ck_assert_int_eq(event_queue_push(&q, 0, 0, 0, 0), 0);
    sim_event e;
    int64_t last = -1;
    int popped = 0;
    while (event_queue_pop(&q, &e) && popped < 100000) {
        ck_assert_int_ge(e.time_ns, last);
        last = e.time_ns;
        popped++;
        /* one or two follow-ups per event until 50,000 pops, then drain */
        int children = popped < 50000 ? 1 + (int)gsl_rng_uniform_int(rng, 2) : 0;
        for (int c = 0; c < children; c++)
            ck_assert_int_eq(event_queue_push(&q, e.time_ns + (int64_t)gsl_rng_uniform_int(rng, 1000),
                                              0, popped, c), 0);
    }
    ck_assert_int_ge(popped, 50000);
    event_queue_free(&q);
    gsl_rng_free(rng);
    ck_assert_int_eq(sim_ns(0.0147464869), 14746487);
    ck_assert_int_eq(sim_ns(1.5e-9), 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("event queue");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, pops_in_time_then_insertion_order);
    tcase_add_test(tc, interleaved_pushes_and_pops);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
