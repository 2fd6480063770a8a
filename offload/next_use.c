#include "offload/next_use.h"

#include <stdlib.h>
#include <string.h>

#include "policies/policy.h"

int next_use_init(next_use *u, int num_keys)
{
    memset(u, 0, sizeof *u);
    u->num_keys = num_keys;
    u->start = calloc((size_t)num_keys + 1, sizeof *u->start);
    u->cursor = calloc((size_t)num_keys, sizeof *u->cursor);
    return u->start && u->cursor ? 0 : -1;
}

void next_use_count(next_use *u, int key)
{
    u->start[key + 1]++;
}

int next_use_layout(next_use *u)
{
    for (int k = 0; k < u->num_keys; k++)
        u->start[k + 1] += u->start[k];
    if (!(u->pos = malloc(((size_t)u->start[u->num_keys] + 1) * sizeof *u->pos)))
        return -1;
    memcpy(u->cursor, u->start, (size_t)u->num_keys * sizeof *u->cursor);
    return 0;
}

void next_use_add(next_use *u, int key, int64_t pos)
{
    u->pos[u->cursor[key]++] = pos;
}

void next_use_ready(next_use *u)
{
    memcpy(u->cursor, u->start, (size_t)u->num_keys * sizeof *u->cursor);
}

int64_t next_use_from(next_use *u, int key, int64_t now)
{
    int64_t *c = &u->cursor[key], end = u->start[key + 1];
    while (*c < end && u->pos[*c] < now)
        (*c)++;
    return *c < end ? u->pos[*c] : POLICY_NEVER;
}

static int64_t clock_next_use(void *ctx, int key)
{
    next_use_clock *c = ctx;
    return next_use_from(&c->uses, key, *c->now);
}

static int64_t clock_now(void *ctx)
{
    return *((next_use_clock *)ctx)->now;
}

policy_future next_use_clock_future(next_use_clock *c)
{
    return (policy_future){.next_use = clock_next_use, .now = clock_now, .ctx = c};
}

void next_use_free(next_use *u)
{
    free(u->start);
    free(u->pos);
    free(u->cursor);
    memset(u, 0, sizeof *u);
}
