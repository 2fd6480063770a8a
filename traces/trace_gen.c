#include "traces/trace_gen.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/disk_space.h"
#include "common/memory.h"
#include "common/topk.h"
#include "traces/trace.h"

/* Prefill iterations are appended in slices of this many tokens, so memory
 * stays small however long a prompt is. */
#define GEN_SLICE_TOKENS 256

void trace_gen_defaults(trace_gen_params *p)
{
    memset(p, 0, sizeof *p);
    p->hidden_dim = 256;
    p->num_requests = 8;
    p->prompt_mean = 128;   /* chat-like: ShareGPT prompts are ~100-200 tokens */
    p->output_mean = 256;
    p->length_sigma = 0.8;
    p->max_len = 2048;
    p->rate = 1.0;
    p->token_corr = 0.7;
    /* consecutive layers' inputs are close (a residual stream), and each
     * layer turns them a little: gate-reuse one layer ahead ~0.73 precision
     * and next-token reuse ~0.62 on Mixtral, near the paper's skip-based
     * 66.9% and token-based 58.3% */
    p->layer_corr = 0.95;
    p->router_corr = 0.5;
    p->layer_drift = 0.45;
    p->skew = 1.0;
    p->router_scale = 2.0;
    p->seed = 1;
    p->content = TRACE_WEIGHTS | TRACE_LOGITS | TRACE_HIDDEN | TRACE_ROUTER_WEIGHT;
    p->dataset = "synthetic";
}

void trace_gen_model_defaults(trace_gen_params *p, const model_desc *m)
{
    if (m->trace_token_corr > 0)
        p->token_corr = m->trace_token_corr;
    if (m->trace_router_corr > 0)
        p->router_corr = m->trace_router_corr;
    if (m->trace_skew > 0)
        p->skew = m->trace_skew;
}

int trace_gen_check(const trace_gen_params *p, promoe_err *err)
{
    if (p->hidden_dim < 2 || p->hidden_dim > TRACE_MAX_HIDDEN)
        return promoe_err_set(err, "hidden dim %d must be in [2, %d]", p->hidden_dim,
                              TRACE_MAX_HIDDEN);
    if (p->num_requests < 0 || p->max_tokens < 0 || (p->num_requests == 0 && p->max_tokens == 0))
        return promoe_err_set(err, "give a number of requests or of tokens (both are unlimited)");
    if (!(p->prompt_mean >= 1) || !(p->output_mean >= 1))
        return promoe_err_set(err, "mean prompt and output lengths must be at least 1");
    if (!(p->length_sigma >= 0 && p->length_sigma <= 4))
        return promoe_err_set(err, "length sigma %g must be in [0, 4]", p->length_sigma);
    if (p->max_len < 1)
        return promoe_err_set(err, "max length must be at least 1");
    if (!(p->rate > 0))
        return promoe_err_set(err, "arrival rate must be positive");
    if (!(p->token_corr >= 0 && p->token_corr < 1))
        return promoe_err_set(err, "token correlation %g must be in [0, 1)", p->token_corr);
    if (!(p->layer_corr >= 0 && p->layer_corr < 1))
        return promoe_err_set(err, "layer correlation %g must be in [0, 1)", p->layer_corr);
    if (!(p->layer_drift >= 0 && p->layer_drift <= 1.5707964))
        return promoe_err_set(err, "layer drift %g must be in [0, pi/2] radians", p->layer_drift);
    if (!(p->router_corr >= 0 && p->router_corr <= 1))
        return promoe_err_set(err, "router correlation %g must be in [0, 1]", p->router_corr);
    if (!(p->skew >= 0) || !(p->router_scale > 0))
        return promoe_err_set(err, "skew must be >= 0 and router scale > 0");
    return 0;
}

/* The generator's working state. */
typedef struct gen {
    const trace_gen_params *p;
    const model_desc *m;
    gsl_rng *rng;
    int L, E, K, D, Z;   /* Z = D - 1 dynamic components; h[Z] = 1 */
    float *router;       /* [L][E][D], bias in column Z */
    int *pair;           /* [L][Z]: the coordinate each one turns with */
    float *turned;       /* [2][Z]: the two vectors from below, turned */
    float *prev;         /* h of the previous token of this request, [L][D] */
    float *cur;          /* h of the current token, [L][D] */
    /* per-slice output arrays */
    int32_t *request, *position;
    uint8_t *phase;
    int16_t *experts;
    float *weights, *logits, *hidden;
    double *score;       /* one layer's logits, for top-k */
    int *chosen;         /* one layer's top-k */
} gen;

static void gen_free(gen *g)
{
    if (g->rng)
        gsl_rng_free(g->rng);
    free(g->router);
    free(g->pair);
    free(g->turned);
    free(g->prev);
    free(g->cur);
    free(g->request);
    free(g->position);
    free(g->phase);
    free(g->experts);
    free(g->weights);
    free(g->logits);
    free(g->hidden);
    free(g->score);
    free(g->chosen);
}

static int gen_init(gen *g, const trace_gen_params *p, const model_desc *m)
{
    memset(g, 0, sizeof *g);
    g->p = p;
    g->m = m;
    g->L = m->num_layers;
    g->E = m->num_experts;
    g->K = m->top_k;
    g->D = p->hidden_dim;
    g->Z = g->D - 1;
    size_t L = (size_t)g->L, E = (size_t)g->E, K = (size_t)g->K, D = (size_t)g->D;
    size_t S = GEN_SLICE_TOKENS;
    g->rng = gsl_rng_alloc(gsl_rng_mt19937);
    g->router = malloc(L * E * D * sizeof(float));
    g->pair = malloc(L * D * sizeof(int));
    g->turned = malloc(2 * D * sizeof(float));
    g->prev = calloc(L * D, sizeof(float));
    g->cur = calloc(L * D, sizeof(float));
    g->request = malloc(S * sizeof(int32_t));
    g->position = malloc(S * sizeof(int32_t));
    g->phase = malloc(S);
    g->experts = malloc(S * L * K * sizeof(int16_t));
    g->weights = malloc(S * L * K * sizeof(float));
    g->logits = malloc(S * L * E * sizeof(float));
    g->hidden = malloc(S * L * D * sizeof(float));
    g->score = malloc(E * sizeof(double));
    g->chosen = malloc(K * sizeof(int));
    if (!g->score || !g->chosen || !g->rng || !g->router || !g->pair || !g->turned || !g->prev || !g->cur || !g->request || !g->position ||
        !g->phase || !g->experts || !g->weights || !g->logits || !g->hidden)
        return -1;
    gsl_rng_set(g->rng, p->seed);
    /* W entries ~ N(0, scale^2 / Z), so W.h has std. dev. router_scale,
     * each layer's W an AR(1) step from the previous layer's; the bias
     * column gives each expert a fixed popularity offset. */
    double wsd = p->router_scale / sqrt((double)g->Z);
    double c = p->router_corr, fresh = sqrt(1 - c * c);
    for (size_t l = 0; l < L; l++)
        for (size_t e = 0; e < E; e++) {
            float *row = g->router + (l * E + e) * D;
            const float *below = l ? row - E * D : NULL;
            for (int z = 0; z < g->Z; z++) {
                double noise = gsl_ran_gaussian_ziggurat(g->rng, wsd);
                row[z] = (float)(below ? c * below[z] + fresh * noise : noise);
            }
            row[g->Z] = (float)gsl_ran_gaussian_ziggurat(g->rng, p->skew);
        }
    /* each layer's drift pairs the dynamic coordinates at random (an odd
     * one out stays put); drawn from its own stream so the drift leaves
     * the tokens' draws unchanged */
    gsl_rng *drift = gsl_rng_alloc(gsl_rng_mt19937);
    if (!drift)
        return -1;
    gsl_rng_set(drift, p->seed ^ 0x9e3779b9UL);
    for (size_t l = 0; l < L; l++) {
        int *pr = g->pair + l * D;
        for (int z = 0; z < g->Z; z++)
            pr[z] = z;
        gsl_ran_shuffle(drift, pr, (size_t)g->Z, sizeof(int)); /* neighbours pair up */
    }
    gsl_rng_free(drift);
    if (p->token_seed)
        gsl_rng_set(g->rng, p->token_seed);
    return 0;
}

/* Turns x by layer l's drift: each pair (a, b) of the shuffled order
 * rotates by the drift angle, so the map is orthogonal (variance kept) and
 * the same for every token: a deterministic change a predictor can learn. */
static void turn(const gen *g, int l, const float *x, float *out)
{
    const int *pr = g->pair + (size_t)l * g->D;
    double c = cos(g->p->layer_drift), s = sin(g->p->layer_drift);
    for (int i = 0; i + 1 < g->Z; i += 2) {
        int a = pr[i], b = pr[i + 1];
        out[a] = (float)(c * x[a] - s * x[b]);
        out[b] = (float)(s * x[a] + c * x[b]);
    }
    if (g->Z % 2)
        out[pr[g->Z - 1]] = x[pr[g->Z - 1]];
}

/* Draws h for one token.  first: no previous token in this request. */
static void gen_hidden(gen *g, int first)
{
    double a = g->p->layer_corr, r = first ? 0.0 : g->p->token_corr;
    double s_layer = sqrt(1 - a * a), s_tok = sqrt(1 - r * r);
    for (int l = 0; l < g->L; l++) {
        float *h = g->cur + (size_t)l * g->D;
        const float *below = NULL, *diag = NULL;
        const float *before = g->prev + (size_t)l * g->D;
        if (l) { /* the layer below, this token and the previous, drifted */
            turn(g, l, g->cur + (size_t)(l - 1) * g->D, g->turned);
            turn(g, l, g->prev + (size_t)(l - 1) * g->D, g->turned + g->D);
            below = g->turned;
            diag = g->turned + g->D;
        }
        for (int z = 0; z < g->Z; z++) {
            /* Separable AR(1) x AR(1) field with unit variance. */
            double v;
            if (l == 0)
                v = r * before[z] + s_tok * gsl_ran_gaussian_ziggurat(g->rng, 1.0);
            else
                v = a * below[z] + r * before[z] - a * r * diag[z] +
                    s_layer * s_tok * gsl_ran_gaussian_ziggurat(g->rng, 1.0);
            h[z] = (float)v;
        }
        h[g->Z] = 1.0f;
    }
}

/* Routes the current token: logits, top-k, gate weights into slice row s. */
static void gen_route(gen *g, size_t s)
{
    size_t L = (size_t)g->L, E = (size_t)g->E, K = (size_t)g->K, D = (size_t)g->D;
    for (size_t l = 0; l < L; l++) {
        const float *h = g->cur + l * D;
        float *lg = g->logits + (s * L + l) * E;
        for (size_t e = 0; e < E; e++) {
            const float *w = g->router + (l * E + e) * D;
            double acc = 0;
            for (size_t z = 0; z < D; z++)
                acc += (double)w[z] * h[z];
            g->score[e] = acc;
            lg[e] = (float)acc;
        }
        int16_t *ex = g->experts + (s * L + l) * K;
        topk_select(g->score, g->E, g->K, g->chosen);
        for (size_t k = 0; k < K; k++)
            ex[k] = (int16_t)g->chosen[k];
        /* gate weights: softmax over the top-k, or over all then top-k */
        float *wt = g->weights + (s * L + l) * K;
        double mx = lg[ex[0]], sum = 0;
        if (g->m->norm_topk_prob) {
            for (size_t k = 0; k < K; k++)
                sum += exp(lg[ex[k]] - mx);
        } else {
            for (size_t e = 0; e < E; e++)
                sum += exp(lg[e] - mx);
        }
        for (size_t k = 0; k < K; k++)
            wt[k] = (float)(exp(lg[ex[k]] - mx) / sum);
    }
    memcpy(g->hidden + s * L * D, g->cur, L * D * sizeof(float));
    float *t = g->prev;
    g->prev = g->cur;
    g->cur = t;
}

static int draw_length(gen *g, double mean)
{
    double sigma = g->p->length_sigma;
    double v = gsl_ran_lognormal(g->rng, log(mean) - sigma * sigma / 2, sigma);
    long n = lround(v);
    if (n < 1)
        n = 1;
    if (n > g->p->max_len)
        n = g->p->max_len;
    return (int)n;
}

/* Emits `count` tokens of one iteration, in slices. */
static int emit(gen *g, trace_writer *w, int32_t iteration, int32_t req, int32_t pos0,
                int count, enum trace_phase phase, promoe_err *err)
{
    for (int done = 0; done < count;) {
        int n = count - done < GEN_SLICE_TOKENS ? count - done : GEN_SLICE_TOKENS;
        for (int s = 0; s < n; s++) {
            int32_t pos = pos0 + done + s;
            gen_hidden(g, pos == 0);
            gen_route(g, (size_t)s);
            g->request[s] = req;
            g->position[s] = pos;
            g->phase[s] = (uint8_t)phase;
        }
        trace_iteration it = {
            .id = iteration, .num_tokens = (size_t)n, .request = g->request,
            .position = g->position, .phase = g->phase, .experts = g->experts,
            .weights = g->weights, .logits = g->logits, .hidden = g->hidden,
        };
        if (trace_writer_append(w, &it, err) < 0)
            return -1;
        done += n;
    }
    return 0;
}

/* The file's expected size, uncompressed (generated floats barely
 * compress: a DeepSeek trace with hidden states and logits gzips to 0.88
 * of it), against the space free where it goes. */
static int check_disk_space(const trace_gen_params *p, const model_desc *model, const char *path,
                            promoe_err *err)
{
    double per_request = fmin(p->prompt_mean, p->max_len) + fmin(p->output_mean, p->max_len);
    double tokens = p->num_requests > 0 ? p->num_requests * per_request : HUGE_VAL;
    if (p->max_tokens > 0 && (double)p->max_tokens < tokens)
        tokens = (double)p->max_tokens;
    if (isinf(tokens))
        return 0;
    double L = model->num_layers, E = model->num_experts, K = model->top_k, D = p->hidden_dim;
    double per_token = 13 + 2 * L * K; /* tokens/..., routing/experts */
    if (p->content & TRACE_WEIGHTS)
        per_token += 4 * L * K;
    if (p->content & TRACE_LOGITS)
        per_token += 4 * L * E;
    if (p->content & TRACE_HIDDEN)
        per_token += 2 * L * D;
    double bytes = tokens * per_token + (p->content & TRACE_ROUTER_WEIGHT ? 2 * L * E * D : 0);
    char what[128];
    snprintf(what, sizeof what, "a trace of about %.3g tokens", tokens);
    return disk_check(path, bytes, what, err);
}

int trace_gen_write(const trace_gen_params *p, const model_desc *model, const char *path,
                    int64_t *tokens, promoe_err *err)
{
    if (trace_gen_check(p, err) < 0)
        return -1;
    /* a slice of tokens' hidden states and logits, the routers and the
     * pairing dominate what the generator holds */
    double L = model->num_layers, E = model->num_experts, D = p->hidden_dim;
    double bytes = 4.0 * (GEN_SLICE_TOKENS * L * (D + E) + L * E * D + 3 * L * D);
    char what[128];
    snprintf(what, sizeof what, "generating a %s trace with hidden dim %d", model->name,
             p->hidden_dim);
    if (memory_check(bytes, what, err) < 0)
        return promoe_err_prefix(err, "%s", path);
    if (check_disk_space(p, model, path, err) < 0)
        return -1;
    gen g;
    if (gen_init(&g, p, model) < 0) {
        gen_free(&g);
        return promoe_err_set(err, "out of memory generating a %s trace (hidden dim %d)",
                              model->name, p->hidden_dim);
    }
    trace_meta meta = {
        .num_layers = model->num_layers, .num_experts = model->num_experts,
        .top_k = model->top_k, .hidden_dim = p->hidden_dim, .content = p->content,
        .compression = p->compression,
    };
    snprintf(meta.model, sizeof meta.model, "%s", model->name);
    snprintf(meta.source, sizeof meta.source,
             "promoe trace gen (seed %lu, token seed %lu, token_corr %g, layer_corr %g, "
             "layer_drift %g, router_corr %g, skew %g)", p->seed, p->token_seed, p->token_corr,
             p->layer_corr, p->layer_drift, p->router_corr, p->skew);
    trace_writer *w = trace_writer_create(path, &meta, err);
    if (!w) {
        gen_free(&g);
        return -1;
    }
    if ((p->content & TRACE_ROUTER_WEIGHT) && trace_writer_set_router_weight(w, g.router, err) < 0)
        goto fail;
    int64_t total = 0;
    int32_t iteration = 0;
    double arrival = 0;
    for (int32_t req = 0; p->num_requests == 0 || req < p->num_requests; req++) {
        if (p->max_tokens && total >= p->max_tokens)
            break;
        int prompt = draw_length(&g, p->prompt_mean);
        int output = draw_length(&g, p->output_mean);
        arrival += gsl_ran_exponential(g.rng, 1.0 / p->rate);
        if (p->max_tokens) {
            int64_t room = p->max_tokens - total;
            if (prompt > room)
                prompt = (int)room;
            if (output > room - prompt)
                output = (int)(room - prompt);
        }
        trace_request r = {.id = req, .prompt_len = prompt, .output_len = output,
                           .arrival_s = arrival};
        snprintf(r.dataset, sizeof r.dataset, "%s", p->dataset);
        if (trace_writer_add_request(w, &r, err) < 0 ||
            emit(&g, w, iteration++, req, 0, prompt, TRACE_PREFILL, err) < 0)
            goto fail;
        for (int t = 0; t < output; t++)
            if (emit(&g, w, iteration++, req, prompt + t, 1, TRACE_DECODE, err) < 0)
                goto fail;
        total += prompt + output;
        if (p->progress)
            p->progress(total, p->max_tokens);
    }
    gen_free(&g);
    if (tokens)
        *tokens = total;
    return trace_writer_commit(w, err);
fail:
    gen_free(&g);
    trace_writer_abort(w);
    return -1;
}
