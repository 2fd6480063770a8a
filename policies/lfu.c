/* lfu.c - least frequently used: evict the resident expert with the fewest
 * uses since it was loaded; ties go to the least recently used.
 *
 * O(1) an access (frequency buckets): the resident keys sit in buckets of
 * equal use counts, the buckets in a list by count, lowest first, and each
 * bucket's keys in the order they reached that count, which is the order of
 * their last use.  The victim is the first unpinned key from the front. */
#include <stdlib.h>

#include "policies/policy.h"

typedef struct lfu {
    const policy_env *env;
    int *bucket;                /* [num_keys] the key's bucket */
    int *prev, *next;           /* [num_keys] its neighbours in the bucket, -1 at the ends */
    int64_t *count;             /* [buckets] uses of the bucket's keys */
    int *head, *tail;           /* [buckets] its keys, least recent first */
    int *lower, *higher;        /* [buckets] the neighbouring buckets, -1 at the ends */
    int lowest;                 /* the first bucket, -1 when none is in use */
    int spare;                  /* unused buckets, chained through higher */
} lfu;

static void lfu_destroy(void *st)
{
    lfu *s = st;
    free(s->bucket);
    free(s->prev);
    free(s->next);
    free(s->count);
    free(s->head);
    free(s->tail);
    free(s->lower);
    free(s->higher);
    free(s);
}

static void *lfu_create(const policy_env *env, const char *options, promoe_err *err)
{
    if (policy_no_options("lfu", options, err) < 0)
        return NULL;
    lfu *s = calloc(1, sizeof *s);
    /* a bucket per resident key at most, and one made before one empties */
    size_t n = (size_t)env->num_keys, b = n + 1;
    if (s) {
        s->env = env;
        s->bucket = malloc(n * sizeof *s->bucket);
        s->prev = malloc(n * sizeof *s->prev);
        s->next = malloc(n * sizeof *s->next);
        s->count = malloc(b * sizeof *s->count);
        s->head = malloc(b * sizeof *s->head);
        s->tail = malloc(b * sizeof *s->tail);
        s->lower = malloc(b * sizeof *s->lower);
        s->higher = malloc(b * sizeof *s->higher);
    }
    if (!s || !s->bucket || !s->prev || !s->next || !s->count || !s->head || !s->tail ||
        !s->lower || !s->higher) {
        if (s)
            lfu_destroy(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    s->lowest = -1;
    for (size_t i = 0; i < b; i++)
        s->higher[i] = i + 1 < b ? (int)i + 1 : -1;
    s->spare = 0;
    return s;
}

/* A new, empty bucket of `count` uses right above bucket `below` (-1:
 * first). */
static int bucket_open(lfu *s, int64_t count, int below)
{
    int b = s->spare;
    s->spare = s->higher[b];
    s->count[b] = count;
    s->head[b] = s->tail[b] = -1;
    s->lower[b] = below;
    s->higher[b] = below >= 0 ? s->higher[below] : s->lowest;
    if (s->higher[b] >= 0)
        s->lower[s->higher[b]] = b;
    if (below >= 0)
        s->higher[below] = b;
    else
        s->lowest = b;
    return b;
}

static void bucket_close_if_empty(lfu *s, int b)
{
    if (s->head[b] >= 0)
        return;
    if (s->lower[b] >= 0)
        s->higher[s->lower[b]] = s->higher[b];
    else
        s->lowest = s->higher[b];
    if (s->higher[b] >= 0)
        s->lower[s->higher[b]] = s->lower[b];
    s->higher[b] = s->spare;
    s->spare = b;
}

static void key_append(lfu *s, int b, int key)
{
    s->bucket[key] = b;
    s->prev[key] = s->tail[b];
    s->next[key] = -1;
    if (s->tail[b] >= 0)
        s->next[s->tail[b]] = key;
    else
        s->head[b] = key;
    s->tail[b] = key;
}

static void key_unlink(lfu *s, int key)
{
    int b = s->bucket[key];
    if (s->prev[key] >= 0)
        s->next[s->prev[key]] = s->next[key];
    else
        s->head[b] = s->next[key];
    if (s->next[key] >= 0)
        s->prev[s->next[key]] = s->prev[key];
    else
        s->tail[b] = s->prev[key];
}

static void lfu_access(void *st, int key)
{
    lfu *s = st;
    int b = s->bucket[key], up = s->higher[b];
    int64_t count = s->count[b] + 1;
    key_unlink(s, key);
    if (up < 0 || s->count[up] != count)
        up = bucket_open(s, count, b);
    key_append(s, up, key);
    bucket_close_if_empty(s, b);
}

static void lfu_insert(void *st, int key)
{
    lfu *s = st;
    int b = s->lowest;
    if (b < 0 || s->count[b] != 1)
        b = bucket_open(s, 1, -1);
    key_append(s, b, key);
}

static void lfu_remove(void *st, int key)
{
    lfu *s = st;
    int b = s->bucket[key];
    key_unlink(s, key);
    bucket_close_if_empty(s, b);
}

static int lfu_victim(void *st)
{
    lfu *s = st;
    const uint8_t *pinned = s->env->pinned;
    for (int b = s->lowest; b >= 0; b = s->higher[b])
        for (int k = s->head[b]; k >= 0; k = s->next[k])
            if (!pinned[k])
                return k;
    return -1;
}

const cache_policy_ops policy_lfu = {
    .name = "lfu",
    .summary = "least frequently used while resident (ties: least recent)",
    .create = lfu_create,
    .on_access = lfu_access,
    .on_insert = lfu_insert,
    .on_remove = lfu_remove,
    .choose_victim = lfu_victim,
    .destroy = lfu_destroy,
};
