#include "offload/next_use.h"

#include <stdlib.h>
#include <string.h>

#include "policies/policy.h"

#define END32 UINT32_MAX
#define END64 INT64_MAX

int next_use_init(next_use *u, int num_keys, int64_t max_uses, int64_t max_pos)
{
    memset(u, 0, sizeof *u);
    u->num_keys = num_keys;
    u->cap = max_uses;
    /* 32 bits hold every link and position below the end mark */
    u->wide = max_uses >= (int64_t)END32 || max_pos >= (int64_t)END32;
    size_t w = u->wide ? sizeof(int64_t) : sizeof(uint32_t), n = (size_t)max_uses + 1;
    u->link = malloc(n * w);
    u->pos = max_pos == NEXT_USE_DENSE ? NULL : malloc(n * w);
    u->first = malloc((size_t)num_keys * sizeof *u->first);
    u->last = malloc((size_t)num_keys * sizeof *u->last);
    u->cursor = malloc((size_t)num_keys * sizeof *u->cursor);
    if (!u->link || (max_pos != NEXT_USE_DENSE && !u->pos) || !u->first || !u->last ||
        !u->cursor)
        return -1;
    for (int k = 0; k < num_keys; k++)
        u->first[k] = u->last[k] = -1;
    return 0;
}

static void set_link(next_use *u, int64_t at, int64_t to)
{
    if (u->wide)
        ((int64_t *)u->link)[at] = to;
    else
        ((uint32_t *)u->link)[at] = (uint32_t)to;
}

void next_use_add(next_use *u, int key, int64_t pos)
{
    int64_t j = u->n++;
    if (u->pos) {
        if (u->wide)
            ((int64_t *)u->pos)[j] = pos;
        else
            ((uint32_t *)u->pos)[j] = (uint32_t)pos;
    }
    set_link(u, j, u->wide ? END64 : END32);
    if (u->last[key] >= 0)
        set_link(u, u->last[key], j);
    else
        u->first[key] = j;
    u->last[key] = j;
}

void next_use_ready(next_use *u)
{
    memcpy(u->cursor, u->first, (size_t)u->num_keys * sizeof *u->cursor);
}

/* Use j's position. */
static inline int64_t pos_of(const next_use *u, int64_t j)
{
    if (!u->pos)
        return j;
    return u->wide ? ((const int64_t *)u->pos)[j] : ((const uint32_t *)u->pos)[j];
}

int64_t next_use_from(next_use *u, int key, int64_t now)
{
    int64_t j = u->cursor[key];
    if (j < 0)
        return POLICY_NEVER;
    if (u->wide) {
        const int64_t *link = u->link;
        while (j != END64 && pos_of(u, j) < now)
            j = link[j];
        u->cursor[key] = j;
        return j == END64 ? POLICY_NEVER : pos_of(u, j);
    }
    const uint32_t *link = u->link;
    while (j != END32 && pos_of(u, j) < now)
        j = link[j];
    u->cursor[key] = j;
    return j == END32 ? POLICY_NEVER : pos_of(u, j);
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
    free(u->link);
    free(u->pos);
    free(u->first);
    free(u->last);
    free(u->cursor);
    memset(u, 0, sizeof *u);
}
