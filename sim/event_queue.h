/* event_queue.h - the simulator's future events, in time order.
 *
 * Simulated time is integer nanoseconds, so timelines are exact and
 * repeatable.  A binary heap ordered by (time, insertion order): events at
 * the same instant come out in the order they were scheduled. */
#ifndef PROMOE_SIM_EVENT_QUEUE_H
#define PROMOE_SIM_EVENT_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct sim_event {
    int64_t time_ns;
    uint64_t seq;    /* insertion order, for ties */
    int kind;        /* what happens; the engine's enum */
    int32_t a, b;    /* the event's arguments (expert key, layer, ...) */
} sim_event;

typedef struct event_queue {
    sim_event *heap;
    size_t n, cap;
    uint64_t next_seq;
} event_queue;

void event_queue_init(event_queue *q);
void event_queue_free(event_queue *q);
/* Returns -1 when out of memory. */
int event_queue_push(event_queue *q, int64_t time_ns, int kind, int32_t a, int32_t b);
/* Removes the earliest event into *out; returns 0 when the queue is empty. */
int event_queue_pop(event_queue *q, sim_event *out);
/* The earliest event without removing it, or NULL. */
const sim_event *event_queue_peek(const event_queue *q);

/* Seconds (as the cost model gives them) to whole nanoseconds, rounded. */
int64_t sim_ns(double seconds);

#endif
