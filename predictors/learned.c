/* learned.c - the ProMoE predictor: for each layer l and stride s a small
 * MLP maps the hidden state entering layer l to a distribution over the
 * experts of layer l+s (linear, ReLU, linear, softmax).  Trained as the
 * paper does: target the top-k one-hot vector / k (a distribution too), L1
 * loss between the two, Adam (lr 1e-3), mini-batches; matrix products
 * through BLAS.  (Without the softmax, L1 would drive every score to its
 * median, 0, for experts chosen less than half the time.)  Beyond the paper,
 * a linear skip path adds v x to the logits, v starting from the target
 * layer's router weights (prior=router, the default): the model starts as
 * gate-reuse and learns what changes between the layers, so a few thousand
 * tokens of training are enough to beat it; prior=zero starts v at 0 and
 * prior=none leaves the path out (the paper's MLP alone).  As the paper
 * does, the last layers also predict the next token's first layers (l + s
 * >= L targets layer l + s - L of the request's next token; wrap=0 leaves
 * those models out).  It trains when
 * created, on the training share of a trace's requests (the same rule as
 * `predict eval --split`), or loads a file `predict train` saved.
 * Options: train=TRACE.h5 or file=PRED.h5; stride=S (that stride only) or
 * max_stride=S (1..S; default: the strides the caller asks for); split=0.8,
 * hidden=1024, epochs=3, batch=64, lr=0.001, prior=router, wrap=1.  Needs hidden
 * states.
 * With $PROMOE_PREDICTOR_CACHE naming a folder (`promoe sweep` sets it to
 * its inputs), what train= trains is saved there under a key of the
 * training trace (path, size, modification time), the options, the seed,
 * the strides, the model's shape and its router weights, and loaded
 * instead of trained the next time: training is deterministic, so the
 * predictions are the same. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fnv1a.h"
#include "common/memory.h"
#include "common/options.h"
#include "predictors/eval.h"
#include "predictors/learned.h"
#include "predictors/predictor.h"
#include "traces/trace.h"

typedef struct learned_options {
    char train[1024], file[1024], prior[16];
    double split, lr;
    long hidden, epochs, batch, stride, max_stride, wrap;
} learned_options;

static int set_option(void *ctx, const char *key, const char *value, promoe_err *err)
{
    learned_options *o = ctx;
    if (strcmp(key, "train") == 0 || strcmp(key, "file") == 0) {
        char *dst = key[0] == 't' ? o->train : o->file;
        if (strlen(value) >= sizeof o->train)
            return promoe_err_set(err, "%s path too long", key);
        strcpy(dst, value);
        return 0;
    }
    if (strcmp(key, "prior") == 0) {
        if (strcmp(value, "router") != 0 && strcmp(value, "zero") != 0 &&
            strcmp(value, "none") != 0)
            return promoe_err_set(err, "prior must be router, zero or none (got '%s')", value);
        strcpy(o->prior, value);
        return 0;
    }
    if (strcmp(key, "split") == 0)
        return options_double(key, value, 0.01, 1, &o->split, err);
    if (strcmp(key, "lr") == 0)
        return options_double(key, value, 1e-7, 1, &o->lr, err);
    if (strcmp(key, "hidden") == 0)
        return options_int(key, value, 1, 1 << 16, &o->hidden, err);
    if (strcmp(key, "epochs") == 0)
        return options_int(key, value, 1, 1000, &o->epochs, err);
    if (strcmp(key, "batch") == 0)
        return options_int(key, value, 1, 1 << 16, &o->batch, err);
    if (strcmp(key, "stride") == 0)
        return options_int(key, value, 1, LEARNED_MAX_STRIDE, &o->stride, err);
    if (strcmp(key, "wrap") == 0)
        return options_int(key, value, 0, 1, &o->wrap, err);
    if (strcmp(key, "max_stride") == 0)
        return options_int(key, value, 1, LEARNED_MAX_STRIDE, &o->max_stride, err);
    return promoe_err_set(err, "unknown option '%s' (options: train, file, stride, max_stride, "
                          "split, hidden, epochs, batch, lr, prior, wrap)", key);
}

learned_mlp *learned_model(learned *n, int layer, int stride)
{
    return &n->models[(size_t)layer * n->S + (size_t)(stride - 1)];
}

void learned_free(learned *n)
{
    if (!n)
        return;
    for (size_t i = 0; n->models && i < (size_t)n->L * n->S; i++) {
        free(n->models[i].p);
        free(n->models[i].g);
        free(n->models[i].m);
        free(n->models[i].v);
        free(n->models[i].x);
        free(n->models[i].target);
    }
    free(n->models);
    free(n->z1);
    free(n->a);
    free(n->y);
    free(n->dy);
    free(n->da);
    predictor_hidden_free(&n->seen);
    free(n);
}

/* Layers with a model for stride s among L (see learned_layers). */
static int layers_for(int L, int wrap, int s)
{
    return wrap ? (s <= L ? L : 0) : (s < L ? L - s : 0);
}

int learned_layers(const learned *n, int s) { return layers_for(n->L, n->wrap, s); }

/* Parameters of one model: w1, b1, w2, b2 and the skip path's v. */
static size_t params_per_model(size_t H, size_t D, size_t E, int skip)
{
    return H * D + H + E * H + E + (skip ? E * D : 0);
}

learned *learned_alloc(const predictor_env *env, int H, int S, const uint8_t *stride, int B,
                       int skip, int wrap, promoe_err *err)
{
    const blas_ops *blas = blas_open(err);
    if (!blas)
        return NULL;
    learned *n = calloc(1, sizeof *n);
    if (!n)
        goto fail;
    n->blas = blas;
    n->L = env->num_layers;
    n->E = env->num_experts;
    n->K = env->top_k;
    n->D = env->hidden_dim;
    n->H = H;
    n->S = S;
    n->B = B;
    n->last_layer = -1;
    n->skip = skip;
    n->wrap = wrap;
    memcpy(n->stride, stride, sizeof n->stride);
    size_t D = (size_t)n->D, E = (size_t)n->E;
    n->params = params_per_model((size_t)H, D, E, skip);
    n->models = calloc((size_t)n->L * (size_t)S, sizeof *n->models);
    n->z1 = malloc((size_t)B * (size_t)H * sizeof(float));
    n->a = malloc((size_t)B * (size_t)H * sizeof(float));
    n->y = malloc((size_t)B * E * sizeof(float));
    n->dy = malloc((size_t)B * E * sizeof(float));
    n->da = malloc((size_t)B * (size_t)H * sizeof(float));
    if (!n->models || !n->z1 || !n->a || !n->y || !n->dy || !n->da)
        goto fail;
    for (int s = 1; s <= S; s++)
        for (int l = 0; stride[s] && l < learned_layers(n, s); l++)
            if (!(learned_model(n, l, s)->p = malloc(n->params * sizeof(float))))
                goto fail;
    return n;
fail:
    learned_free(n);
    promoe_err_set(err, "out of memory for %d layers of models %d -> %d -> %d",
                   env->num_layers, env->hidden_dim, H, env->num_experts);
    return NULL;
}

static void learned_destroy(void *st) { learned_free(st); }

/* out[rows x M] = in[rows x K] w[M x K]^T + beta out: one token (a decode
 * step's prediction) as a product with a vector, since a matrix product
 * would first pack all of w for its one row. */
static void times_transposed(const learned *n, int rows, int M, int K, const float *in,
                             const float *w, float beta, float *out)
{
    if (rows == 1)
        n->blas->sgemv(CblasRowMajor, CblasNoTrans, M, K, 1.0f, w, K, in, 1, beta, out, 1);
    else
        n->blas->sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, M, K, 1.0f, in, K, w, K,
                       beta, out, M);
}

/* y = softmax(w2 relu(w1 x + b1) + b2 [+ v x]) for `rows` inputs; keeps z1
 * and a. */
static void forward(const learned *n, const float *p, const float *x, int rows)
{
    int D = n->D, H = n->H, E = n->E;
    const float *w1 = p, *b1 = w1 + (size_t)H * D, *w2 = b1 + H, *b2 = w2 + (size_t)E * H;
    const float *v = b2 + E;
    times_transposed(n, rows, H, D, x, w1, 0.0f, n->z1);
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < H; h++) {
            float z = n->z1[(size_t)r * H + h] += b1[h];
            n->a[(size_t)r * H + h] = z > 0 ? z : 0;
        }
    times_transposed(n, rows, E, H, n->a, w2, 0.0f, n->y);
    if (n->skip)
        times_transposed(n, rows, E, D, x, v, 1.0f, n->y);
    for (int r = 0; r < rows; r++) {
        float *y = n->y + (size_t)r * E, mx = -INFINITY, z = 0;
        for (int e = 0; e < E; e++) {
            y[e] += b2[e];
            if (y[e] > mx)
                mx = y[e];
        }
        for (int e = 0; e < E; e++)
            z += y[e] = expf(y[e] - mx);
        for (int e = 0; e < E; e++)
            y[e] /= z;
    }
}

/* One Adam step of the L1 loss on the model's collected batch. */
static void train_step(learned *n, learned_mlp *m, double *loss)
{
    int D = n->D, H = n->H, E = n->E, B = m->filled;
    forward(n, m->p, m->x, B);
    float *g = m->g, *gw1 = g, *gb1 = gw1 + (size_t)H * D, *gw2 = gb1 + H, *gb2 = gw2 + (size_t)E * H;
    float *gv = gb2 + E;
    const float *w2 = m->p + (size_t)H * D + H;
    memset(g, 0, n->params * sizeof *g);
    /* dL/dprob = sign(prob - target) / B; through the softmax:
     * dlogit_i = prob_i (g_i - sum_j prob_j g_j) */
    for (int r = 0; r < B; r++) {
        const float *prob = n->y + (size_t)r * E, *t = m->target + (size_t)r * E;
        float *d = n->dy + (size_t)r * E, dot = 0;
        for (int e = 0; e < E; e++) {
            float diff = prob[e] - t[e];
            *loss += fabsf(diff);
            d[e] = (diff > 0 ? 1.0f : diff < 0 ? -1.0f : 0.0f) / (float)B;
            dot += prob[e] * d[e];
        }
        for (int e = 0; e < E; e++) {
            d[e] = prob[e] * (d[e] - dot);
            gb2[e] += d[e];
        }
    }
    n->blas->sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, E, H, B, 1.0f, n->dy, E, n->a, H, 0.0f,
                gw2, H);
    if (n->skip)
        n->blas->sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, E, D, B, 1.0f, n->dy, E, m->x, D,
                    0.0f, gv, D);
    n->blas->sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, E, 1.0f, n->dy, E, w2, H, 0.0f,
                n->da, H);
    for (size_t i = 0; i < (size_t)B * H; i++) {
        if (n->z1[i] <= 0)
            n->da[i] = 0;
        gb1[i % (size_t)H] += n->da[i];
    }
    n->blas->sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, D, B, 1.0f, n->da, H, m->x, D, 0.0f,
                gw1, D);
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    m->steps++;
    double c1 = 1 - pow(b1, (double)m->steps), c2 = 1 - pow(b2, (double)m->steps);
    for (size_t i = 0; i < n->params; i++) {
        m->m[i] = (float)(b1 * m->m[i] + (1 - b1) * g[i]);
        m->v[i] = (float)(b2 * m->v[i] + (1 - b2) * (double)g[i] * g[i]);
        m->p[i] -= (float)(n->lr * (m->m[i] / c1) / (sqrt(m->v[i] / c2) + eps));
    }
    m->filled = 0;
}

/* Training state for every model, and its initial parameters; router:
 * the model's router weights [L][E][D] for the skip path's prior, or NULL
 * for zeros. */
static int init_training(learned *n, gsl_rng *rng, const float *router)
{
    size_t D = (size_t)n->D, H = (size_t)n->H, E = (size_t)n->E, B = (size_t)n->B;
    for (size_t i = 0; i < (size_t)n->L * n->S; i++) {
        learned_mlp *m = &n->models[i];
        size_t layer = i / (size_t)n->S, stride = i % (size_t)n->S + 1;
        if (!m->p)
            continue;
        m->g = malloc(n->params * sizeof(float));
        m->m = calloc(n->params, sizeof(float));
        m->v = calloc(n->params, sizeof(float));
        m->x = malloc(B * D * sizeof(float));
        m->target = malloc(B * E * sizeof(float));
        if (!m->g || !m->m || !m->v || !m->x || !m->target)
            return -1;
        /* He initialisation for the ReLU layer, small for the output; with
         * a skip path the MLP's output starts at 0, so the model starts as
         * its prior */
        for (size_t k = 0; k < H * D; k++)
            m->p[k] = (float)gsl_ran_gaussian_ziggurat(rng, sqrt(2.0 / (double)D));
        memset(m->p + H * D, 0, H * sizeof(float));
        for (size_t k = 0; k < E * H; k++)
            m->p[H * D + H + k] =
                n->skip ? 0.0f : (float)gsl_ran_gaussian_ziggurat(rng, sqrt(1.0 / (double)H));
        memset(m->p + H * D + H + E * H, 0, E * sizeof(float));
        float *v = m->p + H * D + H + E * H + E;
        /* the target layer's router; not for the next token's layers, whose
         * inputs this state says little about */
        if (n->skip && router && layer + stride < (size_t)n->L)
            memcpy(v, router + (layer + stride) * E * D, E * D * sizeof(float));
        else if (n->skip)
            memset(v, 0, E * D * sizeof(float));
    }
    return 0;
}

/* Adds one example (input x, the target layer's chosen experts) to m's
 * batch, taking a training step when the batch is full. */
static void add_example(learned *n, learned_mlp *m, const float *x, const int16_t *chosen,
                        double *loss)
{
    size_t D = (size_t)n->D, E = (size_t)n->E;
    float *y = m->target + (size_t)m->filled * E;
    memcpy(m->x + (size_t)m->filled * D, x, D * sizeof *x);
    memset(y, 0, E * sizeof *y);
    for (int k = 0; k < n->K; k++)
        if (chosen[k] >= 0)
            y[chosen[k]] = 1.0f / (float)n->K;
    n->samples++;
    if (++m->filled == n->B)
        train_step(n, m, loss);
}

/* Streams the training requests of the trace `epochs` times. */
static int train(learned *n, const learned_options *o, const predictor_env *env, promoe_err *err)
{
    trace_reader *r = trace_reader_open(o->train, TRACE_HIDDEN, err);
    if (!r)
        return -1;
    const trace_meta *tm = trace_reader_meta(r);
    if (tm->num_layers != n->L || tm->num_experts != n->E || tm->hidden_dim != n->D) {
        trace_reader_close(r);
        return promoe_err_set(err, "%s has %d layers, %d experts, hidden %d: not this trace's "
                              "%d, %d, %d", o->train, tm->num_layers, tm->num_experts,
                              tm->hidden_dim, n->L, n->E, n->D);
    }
    if (!(tm->content & TRACE_HIDDEN)) {
        trace_reader_close(r);
        return promoe_err_set(err, "%s has no hidden states to train on (generate it without "
                              "--no-hidden, or record it with hidden states)", o->train);
    }
    if (tm->hidden_layer_stride > 1) {
        int every = tm->hidden_layer_stride;
        trace_reader_close(r);
        return promoe_err_set(err, "%s holds the hidden states of one layer in %d, training "
                              "needs every layer's (record it with --record-hidden)", o->train,
                              every);
    }
    predictor_split split;
    if (predictor_split_init(&split, r, o->split >= 1 ? 0 : o->split, err) < 0) {
        trace_reader_close(r);
        return -1;
    }
    int all = o->split >= 1;
    size_t D = (size_t)n->D, E = (size_t)n->E, K = (size_t)n->K, L = (size_t)n->L;
    int64_t total = o->epochs * tm->num_tokens, done = 0;
    double start = clock_now_s(), loss = 0;
    trace_iteration it;
    int got = 0;
    /* the previous training token, for the wrapped models' examples */
    float *prev = n->wrap ? malloc(L * D * sizeof *prev) : NULL;
    int32_t prev_request = -1, prev_position = -1;
    if (n->wrap && !prev) {
        predictor_split_free(&split);
        trace_reader_close(r);
        return promoe_err_set(err, "out of memory");
    }
    for (long epoch = 0; epoch < o->epochs && got >= 0; epoch++) {
        trace_reader_rewind(r);
        loss = 0;
        n->samples = 0;
        prev_request = -1;
        while ((got = trace_read_iteration(r, &it, err)) > 0) {
            done += (int64_t)it.num_tokens;
            if (env->progress)
                env->progress("training", done, total);
            if (!all && !predictor_split_trains(&split, it.request[0], it.first_token)) {
                prev_request = -1;
                continue;
            }
            for (size_t t = 0; t < it.num_tokens; t++) {
                const float *h = it.hidden + t * L * D;
                const int16_t *ids = it.experts + t * L * K;
                for (int l = 0; l < n->L; l++)
                    for (int s = 1; s <= n->S && l + s < n->L; s++)
                        if (n->stride[s])
                            add_example(n, learned_model(n, l, s), h + (size_t)l * D,
                                        ids + (size_t)(l + s) * K, &loss);
                /* the previous token's last layers predict this token's first */
                int follows = it.request[t] == prev_request && it.position[t] == prev_position + 1;
                for (int l = 0; follows && l < n->L; l++)
                    for (int s = n->L - l; s <= n->S && l + s < 2 * n->L; s++)
                        if (n->stride[s])
                            add_example(n, learned_model(n, l, s), prev + (size_t)l * D,
                                        ids + (size_t)(l + s - n->L) * K, &loss);
                if (prev) {
                    memcpy(prev, h, L * D * sizeof *prev);
                    prev_request = it.request[t];
                    prev_position = it.position[t];
                }
            }
        }
        /* the epoch's last partial batches */
        for (size_t i = 0; got == 0 && i < L * (size_t)n->S; i++)
            if (n->models[i].filled)
                train_step(n, &n->models[i], &loss);
    }
    free(prev);
    n->epochs = (int)o->epochs;
    n->seconds = clock_now_s() - start;
    n->loss = n->samples > 0 ? loss / (double)n->samples : 0;
    predictor_split_free(&split);
    trace_reader_close(r);
    if (got == 0 && n->samples == 0)
        return promoe_err_set(err, "%s: no training tokens (split=%g leaves none)", o->train,
                              o->split);
    return got < 0 ? -1 : 0;
}

/* Which strides to train: the option, else the caller's. */
static void choose_strides(const learned_options *o, const predictor_env *env, uint8_t *want,
                           int *S)
{
    int lo = 1, hi = 4;
    if (o->stride)
        lo = hi = (int)o->stride;
    else if (o->max_stride)
        hi = (int)o->max_stride;
    else if (env->stride_lo >= 1 && env->stride_hi >= env->stride_lo) {
        lo = env->stride_lo;
        hi = env->stride_hi;
    }
    if (hi > LEARNED_MAX_STRIDE)
        hi = LEARNED_MAX_STRIDE;
    memset(want, 0, LEARNED_MAX_STRIDE + 1);
    for (int s = lo; s <= hi; s++)
        want[s] = 1;
    *S = hi;
}

/* The cache file of what these options would train, into path; 0, or -1
 * when there is no cache (or the training trace cannot be looked at). */
static int cache_path(const learned_options *o, const char *options, const predictor_env *env,
                      const uint8_t *want, char *path, size_t len)
{
    const char *dir = getenv("PROMOE_PREDICTOR_CACHE");
    struct stat st;
    if (!dir || !dir[0] || stat(o->train, &st) < 0)
        return -1;
    int64_t shape[] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec,
                       (int64_t)env->seed, env->num_layers, env->num_experts, env->top_k,
                       env->hidden_dim};
    uint64_t h = fnv1a(FNV1A_START, o->train, strlen(o->train));
    h = fnv1a(h, options, strlen(options));
    h = fnv1a(h, shape, sizeof shape);
    h = fnv1a(h, want, LEARNED_MAX_STRIDE + 1);
    if (env->router_weight) /* prior=router starts from them: another router, another model */
        h = fnv1a(h, env->router_weight, (size_t)env->num_layers * (size_t)env->num_experts *
                                             (size_t)env->hidden_dim * sizeof(float));
    int n = snprintf(path, len, "%s/learned-%016llx.h5", dir, (unsigned long long)h);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

static void *learned_create(const predictor_env *env, const char *options, promoe_err *err)
{
    learned_options o = {.split = 0.8, .lr = 1e-3, .hidden = 1024, .epochs = 3, .batch = 64,
                         .prior = "router", .wrap = 1};
    if (options_parse("predictor learned", options, set_option, &o, err) < 0)
        return NULL;
    if (!o.train[0] == !o.file[0]) {
        promoe_err_set(err, "predictor learned needs train=TRACE.h5 (a trace with hidden states "
                       "to train on; split=F picks its training requests) or file=PRED.h5 (as "
                       "'promoe predict train' writes)");
        return NULL;
    }
    if (o.stride && o.max_stride) {
        promoe_err_set(err, "predictor learned: give stride=S or max_stride=S, not both");
        return NULL;
    }
    if (env->hidden_dim < 1) {
        promoe_err_set(err, "predictor learned needs hidden states");
        return NULL;
    }
    if (o.file[0]) {
        learned *n = learned_file_load(o.file, env, (int)o.batch, err);
        if (!n)
            promoe_err_prefix(err, "predictor learned");
        return n;
    }
    uint8_t want[LEARNED_MAX_STRIDE + 1];
    int S;
    choose_strides(&o, env, want, &S);
    char cached[PATH_MAX];
    int cache = cache_path(&o, options ? options : "", env, want, cached, sizeof cached) == 0;
    if (cache && access(cached, R_OK) == 0) {
        promoe_err ignored;
        learned *n = learned_file_load(cached, env, (int)o.batch, &ignored);
        if (n)
            return n; /* else trained again below, and saved over it */
    }
    int skip = strcmp(o.prior, "none") != 0;
    if (strcmp(o.prior, "router") == 0 && !env->router_weight) {
        promoe_err_set(err, "predictor learned: prior=router needs the router weights "
                       "(model/router_weight); use prior=zero or prior=none");
        return NULL;
    }
    /* each model's parameters, gradient and two Adam moments, float32 */
    double models = 0, params = (double)params_per_model((size_t)o.hidden, (size_t)env->hidden_dim,
                                                         (size_t)env->num_experts, skip);
    for (int s = 1; s <= S; s++)
        models += want[s] ? layers_for(env->num_layers, (int)o.wrap, s) : 0;
    char what[160];
    snprintf(what, sizeof what, "predictor learned: training %.0f models of %.0f parameters",
             models, params);
    if (memory_check(16.0 * models * params, what, err) < 0)
        return NULL;
    learned *n = learned_alloc(env, (int)o.hidden, S, want, (int)o.batch, skip, (int)o.wrap,
                               err);
    if (!n)
        return NULL;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) {
        learned_free(n);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    gsl_rng_set(rng, env->seed);
    n->lr = (float)o.lr;
    snprintf(n->options, sizeof n->options, "%s", options ? options : "");
    int rc = init_training(n, rng, strcmp(o.prior, "router") == 0 ? env->router_weight : NULL);
    gsl_rng_free(rng);
    if (rc < 0) {
        learned_free(n);
        promoe_err_set(err, "predictor learned: out of memory for training");
        return NULL;
    }
    if (train(n, &o, env, err) < 0) {
        learned_free(n);
        promoe_err_prefix(err, "predictor learned");
        return NULL;
    }
    promoe_err ignored; /* a cache that cannot be written only costs time */
    if (cache)
        learned_file_save(n, cached, &ignored);
    return n;
}

static void learned_begin(void *st)
{
    learned *n = st;
    n->seen.n = 0;
    n->last_layer = -1;
}

static void learned_observe(void *st, const predictor_obs *obs)
{
    learned *n = st;
    if (predictor_hidden_keep(&n->seen, obs, n->D) == 0)
        n->last_layer = obs->layer;
}

static void learned_predict(void *st, int ahead, int layer, double *scores)
{
    learned *n = st;
    memset(scores, 0, (size_t)n->E * sizeof *scores);
    int s = layer + ahead * n->L - n->last_layer; /* ahead 1: the next token's layer */
    if (ahead < 0 || ahead > 1 || n->last_layer < 0 || s < 1 || s > n->S || !n->stride[s])
        return;
    const learned_mlp *m = learned_model(n, n->last_layer, s);
    if (!m->p)
        return; /* no model that far (wrap=0) */
    for (size_t t = 0; t < n->seen.n; t += (size_t)n->B) {
        int rows = (int)(n->seen.n - t < (size_t)n->B ? n->seen.n - t : (size_t)n->B);
        forward(n, m->p, n->seen.rows + t * (size_t)n->D, rows);
        for (int r = 0; r < rows; r++)
            for (int e = 0; e < n->E; e++)
                scores[e] += n->y[(size_t)r * n->E + e];
    }
}

/* FLOPs of one token's prediction: the two products (2 per multiply-add),
 * the biases, the ReLU and the softmax (exp, sum, divide). */
predictor_info learned_info(const learned *n)
{
    double D = n->D, H = n->H, E = n->E, models = 0;
    int lo = 0;
    for (size_t i = 0; i < (size_t)n->L * n->S; i++)
        models += n->models[i].p != NULL;
    for (int s = n->S; s >= 1; s--)
        lo = n->stride[s] ? s : lo;
    return (predictor_info){.stride_lo = lo, .stride_hi = n->S,.params = models * (double)n->params,
                            .flops = 2 * (D * H + H * E) + 2 * H + 4 * E +
                                     (n->skip ? 2 * D * E : 0),
                            .bytes = (double)n->params * sizeof(float),
                            .train_samples = n->samples, .epochs = n->epochs,
                            .train_seconds = n->seconds, .train_loss = n->loss};
}

static void learned_info_op(void *st, predictor_info *out) { *out = learned_info(st); }

static int learned_save(void *st, const char *path, promoe_err *err)
{
    return learned_file_save(st, path, err);
}

const predictor_ops predictor_learned = {
    .name = "learned",
    .summary = "ProMoE's MLP per layer and stride on the hidden state (train=T.h5 or file=P.h5)",
    .needs_hidden = 1,
    .needs_training = 1,
    .create = learned_create,
    .begin_iteration = learned_begin,
    .observe = learned_observe,
    .predict = learned_predict,
    .destroy = learned_destroy,
    .info = learned_info_op,
    .save = learned_save,
};
