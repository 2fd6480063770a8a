/* next_use.h - when each expert is next used, for offline policies
 * (Belady).  Built in one pass over the uses in the order they happen:
 * each use is linked to the same key's next use (a write near the end of
 * the index, where the key was last seen, not a scattered one); queried
 * with a clock that never runs back, so each key's cursor only moves
 * forward along its links.  Links (and positions, where they are not simply
 * the uses' order) take 32 bits when the caller's bound allows, else 64. */
#ifndef PROMOE_OFFLOAD_NEXT_USE_H
#define PROMOE_OFFLOAD_NEXT_USE_H

#include <stdint.h>

#include "policies/policy.h"

/* max_pos for an index whose positions are the uses' own order (0, 1, 2...). */
#define NEXT_USE_DENSE (-1)

typedef struct next_use {
    int num_keys;
    int64_t n, cap;     /* uses added, room for */
    int wide;           /* 64-bit links and positions */
    void *link;         /* [cap] the same key's next use, or the end mark */
    void *pos;          /* [cap] each use's position; NULL when dense */
    int64_t *first;     /* [num_keys] a key's first use, -1 if none */
    int64_t *last;      /* [num_keys] while building: its latest use */
    int64_t *cursor;    /* [num_keys] while querying: the use it stands at */
} next_use;

/* For at most max_uses uses at positions up to max_pos (or NEXT_USE_DENSE).
 * Returns -1 when out of memory (then next_use_free is still safe). */
int next_use_init(next_use *u, int num_keys, int64_t max_uses, int64_t max_pos);
/* One use of key at pos, each key's uses in increasing position (with
 * NEXT_USE_DENSE, pos is the call's own index and is not read). */
void next_use_add(next_use *u, int key, int64_t pos);
/* After the last add: readies the cursors for querying. */
void next_use_ready(next_use *u);
/* The first use of key at or after `now` (POLICY_NEVER when none); `now`
 * must not decrease from call to call. */
int64_t next_use_from(next_use *u, int key, int64_t now);
void next_use_free(next_use *u);

/* An index read at a moment the caller advances (*now, in the index's
 * units: a replay's access count), as offline policies ask it. */
typedef struct next_use_clock {
    next_use uses;
    const int64_t *now;
} next_use_clock;

/* The policy_future (policies/policy.h) that asks c; c outlives it. */
policy_future next_use_clock_future(next_use_clock *c);

#endif
