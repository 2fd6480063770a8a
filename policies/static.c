/* static.c - a fixed expert set: the most popular experts of a training
 * trace fill all but `spare` slots of each pool and are never evicted; the
 * spare slots serve every other expert, least recently used first (the
 * ProMoE paper's static baseline keeps 2).  The fixed set is loaded before
 * serving starts.  Options: trace=TRAIN.h5 (required), spare=N (default 2). */
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "common/topk.h"
#include "policies/list_policy.h"
#include "traces/trace.h"

typedef struct static_policy {
    list_policy base;   /* recency order of resident experts */
    uint8_t *fixed;     /* [num_keys] 1 = in the fixed set */
    int *set;           /* the fixed set's keys */
    int set_size;
} static_policy;

typedef struct static_options {
    char trace[1024]; /* copied: values do not outlive options_parse */
    long spare;
} static_options;

static int set_option(void *ctx, const char *key, const char *value, promoe_err *err)
{
    static_options *o = ctx;
    if (strcmp(key, "trace") == 0) {
        if (strlen(value) >= sizeof o->trace)
            return promoe_err_set(err, "trace path too long");
        strcpy(o->trace, value);
        return 0;
    }
    if (strcmp(key, "spare") == 0)
        return options_int(key, value, 0, 1 << 20, &o->spare, err);
    return promoe_err_set(err, "unknown option '%s' (options: trace, spare)", key);
}

/* Selection counts of the pool's keys over the training trace. */
static int count_popularity(const policy_env *env, const char *path, double *count,
                            promoe_err *err)
{
    trace_reader *r = trace_reader_open(path, 0, err);
    if (!r)
        return -1;
    const trace_meta *m = trace_reader_meta(r);
    if ((int64_t)m->num_layers * m->num_experts != env->num_keys) {
        trace_reader_close(r);
        return promoe_err_set(err, "%s has %d x %d experts, not this model's %d", path,
                              m->num_layers, m->num_experts, env->num_keys);
    }
    size_t lk = (size_t)m->num_layers * (size_t)m->top_k;
    trace_iteration it;
    int got;
    while ((got = trace_read_iteration(r, &it, err)) > 0)
        for (size_t j = 0; j < it.num_tokens * lk; j++)
            if (it.experts[j] >= 0) {
                int key = (int)((j % lk) / (size_t)m->top_k) * m->num_experts + it.experts[j];
                if (key >= env->key_lo && key < env->key_hi)
                    count[key - env->key_lo] += 1;
            }
    trace_reader_close(r);
    return got;
}

static void static_destroy(void *st)
{
    static_policy *s = st;
    free(s->fixed);
    free(s->set);
    list_policy_destroy(s);
}

static void *static_create(const policy_env *env, const char *options, promoe_err *err)
{
    static_options o = {"", 2};
    if (options_parse("policy static", options, set_option, &o, err) < 0)
        return NULL;
    if (!o.trace[0]) {
        promoe_err_set(err, "policy static needs trace=TRAIN.h5 to rank experts by popularity");
        return NULL;
    }
    static_policy *s = list_policy_create(env, "static", "", sizeof *s, err);
    if (!s)
        return NULL;
    int n = env->key_hi - env->key_lo;
    double *count = calloc((size_t)n, sizeof *count);
    s->fixed = calloc((size_t)env->num_keys, 1);
    s->set = malloc((size_t)n * sizeof *s->set);
    if (!count || !s->fixed || !s->set) {
        free(count);
        static_destroy(s);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    if (count_popularity(env, o.trace, count, err) < 0) {
        free(count);
        static_destroy(s);
        promoe_err_prefix(err, "policy static");
        return NULL;
    }
    s->set_size = env->capacity - (int)o.spare;
    if (s->set_size < 0)
        s->set_size = 0;
    if (s->set_size > 0)
        topk_select(count, n, s->set_size, s->set);
    for (int i = 0; i < s->set_size; i++) {
        s->set[i] += env->key_lo;
        s->fixed[s->set[i]] = 1;
    }
    free(count);
    return s;
}

static int static_victim(void *st)
{
    static_policy *s = st;
    for (int k = key_list_first(&s->base.order); k >= 0; k = key_list_after(&s->base.order, k))
        if (!s->fixed[k] && !s->base.env->pinned[k])
            return k;
    return -1;
}

static int static_initial(void *st, int *keys, int max)
{
    static_policy *s = st;
    int n = s->set_size < max ? s->set_size : max;
    memcpy(keys, s->set, (size_t)n * sizeof *keys);
    return n;
}

const cache_policy_ops policy_static = {
    .name = "static",
    .summary = "popular experts of a training trace fixed; LRU spare slots (trace=, spare=)",
    .create = static_create,
    .on_access = list_policy_move_to_back,
    .on_insert = list_policy_move_to_back,
    .on_remove = list_policy_remove,
    .choose_victim = static_victim,
    .destroy = static_destroy,
    .initial = static_initial,
};
