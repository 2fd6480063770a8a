/* prev_token.c - temporal locality: a layer will choose what it chose for
 * the previous token of the same request.  For a step of several requests
 * the prediction is the union over them.  Histories are kept for the most
 * recent requests (enough for any batch); a request's first token has no
 * previous one and contributes nothing. */
#include <stdlib.h>
#include <string.h>

#include "predictors/predictor.h"

#define PREV_TOKEN_REQUESTS 256

typedef struct history {
    int32_t request;
    uint64_t used;        /* for replacing the least recently seen */
    int16_t *last;        /* [L][K]: the latest experts at each layer, -1 none */
} history;

typedef struct prev_token {
    int L, E, K;
    history h[PREV_TOKEN_REQUESTS];
    int n;
    uint64_t clock;
    int step[PREV_TOKEN_REQUESTS]; /* histories of the current step's requests */
    int step_n;
} prev_token;

static void prev_destroy(void *st)
{
    prev_token *p = st;
    for (int i = 0; i < p->n; i++)
        free(p->h[i].last);
    free(p);
}

static void *prev_create(const predictor_env *env, const char *options, promoe_err *err)
{
    if (options && *options) {
        promoe_err_set(err, "predictor prev-token takes no options (got '%s')", options);
        return NULL;
    }
    prev_token *p = calloc(1, sizeof *p);
    if (!p) {
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    p->L = env->num_layers;
    p->E = env->num_experts;
    p->K = env->top_k;
    return p;
}

/* The history of request r, made (or recycled) if new; NULL if out of memory. */
static history *history_of(prev_token *p, int32_t r)
{
    int oldest = 0;
    for (int i = 0; i < p->n; i++) {
        if (p->h[i].request == r) {
            p->h[i].used = ++p->clock;
            return &p->h[i];
        }
        if (p->h[i].used < p->h[oldest].used)
            oldest = i;
    }
    history *h;
    if (p->n < PREV_TOKEN_REQUESTS) {
        h = &p->h[p->n];
        if (!(h->last = malloc((size_t)p->L * p->K * sizeof *h->last)))
            return NULL;
        p->n++;
    } else {
        h = &p->h[oldest];
    }
    h->request = r;
    h->used = ++p->clock;
    memset(h->last, 0xff, (size_t)p->L * p->K * sizeof *h->last); /* all -1 */
    return h;
}

static void prev_begin(void *st) { ((prev_token *)st)->step_n = 0; }

static void prev_observe(void *st, const predictor_obs *obs)
{
    prev_token *p = st;
    if (obs->layer == 0)
        p->step_n = 0;
    for (size_t t = 0; t < obs->num_tokens; t++) {
        history *h = history_of(p, obs->request[t]);
        if (!h)
            return;
        memcpy(h->last + (size_t)obs->layer * p->K, obs->experts + t * (size_t)p->K,
               (size_t)p->K * sizeof *h->last);
        if (obs->layer == 0 && (t == 0 || obs->request[t] != obs->request[t - 1]) &&
            p->step_n < PREV_TOKEN_REQUESTS)
            p->step[p->step_n++] = (int)(h - p->h);
    }
}

static void prev_predict(void *st, int ahead, int layer, double *scores)
{
    prev_token *p = st;
    memset(scores, 0, (size_t)p->E * sizeof *scores);
    for (int i = 0; i < p->step_n; i++) {
        const int16_t *last = p->h[p->step[i]].last + (size_t)layer * p->K;
        for (int k = 0; k < p->K; k++)
            if (last[k] >= 0)
                scores[last[k]] += 1.0;
    }
}

const predictor_ops predictor_prev_token = {
    .name = "prev-token",
    .summary = "the experts each layer chose for the request's previous token",
    .create = prev_create,
    .begin_iteration = prev_begin,
    .observe = prev_observe,
    .predict = prev_predict,
    .destroy = prev_destroy,
};
