#include "offload/event_log.h"

#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "offload/engine.h"

void offload_log_free(offload_log *log)
{
    free(log->w);
    memset(log, 0, sizeof *log);
}

void offload_log_put(offload_log *log, int kind, const int64_t *words, size_t n)
{
    if (log->failed)
        return;
    int64_t *w = grow_array(log->w, &log->cap, log->n + 2 + n, sizeof *w, 4096);
    if (!w) {
        log->failed = 1;
        return;
    }
    log->w = w;
    log->w[log->n++] = kind;
    log->w[log->n++] = (int64_t)n;
    if (n)
        memcpy(log->w + log->n, words, n * sizeof *words);
    log->n += n;
}

/* A replay: the log read in order, the engine it feeds. */
typedef struct replay {
    const offload_log *log;
    size_t at;
    offload_engine *e;
    int E, K;
    offload_prediction pred; /* room for a prediction's keys and chances */
    int16_t *experts;     /* a gate's, grown as needed */
    float *weights;
    size_t room;
    int bad;              /* the log did not read as one */
    int finished;         /* the run's end was read */
} replay;

/* The entry at the cursor: its kind, words and their count; -1 at the end
 * (or an entry cut short there). */
static int peek(const replay *r, const int64_t **words, size_t *n)
{
    if (r->at + 2 > r->log->n || r->log->w[r->at + 1] < 0 ||
        (uint64_t)r->log->w[r->at + 1] > r->log->n - r->at - 2)
        return -1;
    *n = (size_t)r->log->w[r->at + 1];
    *words = r->log->w + r->at + 2;
    return (int)r->log->w[r->at];
}

static void skip(replay *r, size_t n) { r->at += 2 + n; }

static int dispatch(replay *r);

/* A question the engine asks: the log must have asked it at this point;
 * the events it set off are fed in, then its answer is returned. */
static int64_t answer(replay *r, int kind)
{
    const int64_t *w;
    size_t n;
    if (peek(r, &w, &n) != kind) {
        r->bad = 1;
        return 0;
    }
    skip(r, n);
    int k;
    while ((k = peek(r, &w, &n)) >= 0 && k != LOG_ANSWER)
        if (dispatch(r) < 0)
            return 0;
    if (k != LOG_ANSWER || n != 1) {
        r->bad = 1;
        return 0;
    }
    skip(r, n);
    return w[0];
}

static void replay_copy(void *ctx, int key, int priority, int64_t order, int lowbit)
{
    (void)key, (void)priority, (void)order, (void)lowbit;
    answer(ctx, LOG_ASK_COPY);
}
static void replay_promote(void *ctx, int key)
{
    (void)key;
    answer(ctx, LOG_ASK_PROMOTE);
}
static int replay_drop(void *ctx, int key)
{
    (void)key;
    return (int)answer(ctx, LOG_ASK_DROP);
}
static int replay_in_flight(void *ctx) { return (int)answer(ctx, LOG_ASK_IN_FLIGHT); }
static int replay_chunks_done(void *ctx, int key)
{
    (void)key;
    return (int)answer(ctx, LOG_ASK_CHUNKS);
}
static int replay_cpu_compute(void *ctx, int key, int tokens)
{
    (void)key, (void)tokens;
    return (int)answer(ctx, LOG_ASK_CPU);
}

static int64_t replay_slack(void *ctx, int64_t when)
{
    (void)when;
    return answer(ctx, LOG_ASK_SLACK);
}

static int read_prediction(replay *r, const int64_t *w, size_t n, offload_prediction *p)
{
    if (n < 3 || w[1] < 0 || w[2] < w[1] || w[2] > r->E || n != 3 + (size_t)(w[2] + w[1]))
        return -1;
    *p = r->pred;
    p->when = w[0];
    p->count = (int)w[1];
    p->predicted = (int)w[2];
    for (int i = 0; i < p->predicted; i++)
        p->keys[i] = (int)w[3 + i];
    for (int i = 0; i < p->count; i++)
        p->chance[i] = (int)w[3 + p->predicted + i];
    return 0;
}

static int read_gate(replay *r, const int64_t *w, size_t n)
{
    if (n < 2)
        return -1;
    size_t tokens = (size_t)w[0], per = w[1] ? 2 : 1;
    if (n != 2 + tokens * (size_t)r->K * per)
        return -1;
    size_t need = tokens * (size_t)r->K;
    if (need > r->room) {
        const grow_column columns[] = {{(void **)&r->experts, sizeof *r->experts},
                                       {(void **)&r->weights, sizeof *r->weights}};
        if (grow_columns(columns, 2, need) < 0)
            return -1;
        r->room = need;
    }
    for (size_t i = 0; i < need; i++) {
        r->experts[i] = (int16_t)w[2 + i * per];
        if (w[1]) {
            uint32_t bits = (uint32_t)w[2 + i * per + 1];
            memcpy(&r->weights[i], &bits, sizeof bits);
        }
    }
    offload_engine_gate(r->e, r->experts, w[1] ? r->weights : NULL, tokens, (size_t)r->K);
    return 0;
}

/* Feeds the event at the cursor to the engine. */
static int dispatch(replay *r)
{
    const int64_t *w;
    size_t n;
    int kind = peek(r, &w, &n);
    offload_prediction p;
    skip(r, n);
    switch (kind) {
    case LOG_BEGIN_LAYER:
        if (n != 1)
            break;
        offload_engine_begin_layer(r->e, w[0]);
        return 0;
    case LOG_GATE:
        if (read_gate(r, w, n) < 0)
            break;
        return 0;
    case LOG_PREDICTED:
    case LOG_PREFETCH:
        if (read_prediction(r, w, n, &p) < 0)
            break;
        if (kind == LOG_PREDICTED)
            offload_engine_predicted(r->e, &p);
        else
            offload_engine_prefetch(r->e, &p);
        return 0;
    case LOG_COPY_START:
        if (n != 1)
            break;
        offload_engine_copy_start(r->e, (int)w[0]);
        return 0;
    case LOG_COPY_DONE:
    case LOG_CPU_DONE:
        if (n != 1)
            break;
        if (kind == LOG_COPY_DONE)
            offload_engine_copy_done(r->e, (int)w[0]);
        else
            offload_engine_cpu_done(r->e, (int)w[0]);
        return 0;
    case LOG_LAYER_DONE:
        offload_engine_layer_done(r->e);
        return 0;
    case LOG_FINISH:
        if (n != 0)
            break;
        offload_engine_finish(r->e);
        r->finished = 1;
        return 0;
    case LOG_REACH:
        if (n != 1)
            break;
        offload_engine_reach(r->e, (int)w[0]);
        return 0;
    default:
        break;
    }
    r->bad = 1;
    return -1;
}

int offload_log_replay(const offload_log *log, const offload_config *c, int L, int E, int K,
                       const policy_future *future, uint64_t *digest, promoe_err *err)
{
    if (log->failed)
        return promoe_err_set(err, "the event log is not whole (memory ran out recording it)");
    replay r = {.log = log, .E = E, .K = K};
    offload_clock_ops ops = {.copy = replay_copy, .promote = replay_promote, .drop = replay_drop,
                             .in_flight = replay_in_flight, .chunks_done = replay_chunks_done,
                             .cpu_compute = replay_cpu_compute, .slack = replay_slack, .ctx = &r};
    int rc = -1;
    if (offload_prediction_alloc(&r.pred, E) < 0) {
        promoe_err_set(err, "out of memory");
        goto out;
    }
    if (!(r.e = offload_engine_create(c, L, E, K, future, &ops, err)))
        goto out;
    const int64_t *w;
    size_t n;
    while (!r.bad && !r.finished && peek(&r, &w, &n) >= 0)
        dispatch(&r);
    if (!r.finished && peek(&r, &w, &n) < 0) {
        promoe_err_set(err, "the event log does not replay: it ends at word %zu before the run "
                       "did (cut short)", r.at);
        goto out;
    }
    if (r.bad || r.at != log->n) {
        promoe_err_set(err, "the event log does not replay: entry at word %zu is not what the "
                       "engine asks for there (another system, or a damaged log)", r.at);
        goto out;
    }
    *digest = offload_engine_digest(r.e);
    rc = 0;
out:
    offload_engine_free(r.e);
    offload_prediction_free(&r.pred);
    free(r.experts);
    free(r.weights);
    return rc;
}
