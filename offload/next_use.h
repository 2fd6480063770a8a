/* next_use.h - when each expert is next used, for offline policies
 * (Belady).  Built in two passes over the positions at which experts are
 * used (count, then list them in increasing order); queried with a clock
 * that never runs back, so each expert's cursor only moves forward. */
#ifndef PROMOE_OFFLOAD_NEXT_USE_H
#define PROMOE_OFFLOAD_NEXT_USE_H

#include <stdint.h>

#include "policies/policy.h"

typedef struct next_use {
    int num_keys;
    int64_t *start;   /* [num_keys + 1]: where each key's positions begin */
    int64_t *pos;     /* every key's positions, key after key */
    int64_t *cursor;  /* [num_keys] */
} next_use;

/* Returns -1 when out of memory (then next_use_free is still safe). */
int next_use_init(next_use *u, int num_keys);
/* First pass: one call per use of key. */
void next_use_count(next_use *u, int key);
/* Between the passes; returns -1 when out of memory. */
int next_use_layout(next_use *u);
/* Second pass: the same uses, in increasing position for each key. */
void next_use_add(next_use *u, int key, int64_t pos);
/* After the second pass: rewinds the cursors for querying. */
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
