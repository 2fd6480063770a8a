/* fifo.c - first in, first out: evict the expert resident longest; use
 * does not refresh it. */
#include <stdlib.h>

#include "policies/key_list.h"
#include "policies/policy.h"

typedef struct fifo {
    key_list order; /* front = inserted first */
    const uint8_t *pinned;
} fifo;

static void *fifo_create(const policy_env *env, const char *options, promoe_err *err)
{
    if (policy_no_options("fifo", options, err) < 0)
        return NULL;
    fifo *s = calloc(1, sizeof *s);
    if (!s || key_list_init(&s->order, env->num_keys) < 0) {
        free(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    s->pinned = env->pinned;
    return s;
}

static void fifo_access(void *st, int key) { (void)st; (void)key; }
static void fifo_insert(void *st, int key) { key_list_push_back(&((fifo *)st)->order, key); }
static void fifo_remove(void *st, int key) { key_list_remove(&((fifo *)st)->order, key); }

static int fifo_victim(void *st)
{
    fifo *s = st;
    return key_list_first_unpinned(&s->order, s->pinned);
}

static void fifo_destroy(void *st)
{
    fifo *s = st;
    key_list_free(&s->order);
    free(s);
}

const cache_policy_ops policy_fifo = {
    .name = "fifo",
    .summary = "first in, first out",
    .create = fifo_create,
    .on_access = fifo_access,
    .on_insert = fifo_insert,
    .on_remove = fifo_remove,
    .choose_victim = fifo_victim,
    .destroy = fifo_destroy,
};
