/* bench_learned - training time and prediction throughput of the learned
 * predictor at a real model width (make bench).
 *
 * A trace of 100k tokens with 4096-wide hidden states for all 32 layers
 * would take 26 GB, so the trace has 2 layers (the width, expert count and
 * top-k of Mixtral-8x7B): one model (layer 0 -> layer 1, stride 1, hidden
 * 1024, the skip path, 3 epochs of batches of 64) is trained on all 100k
 * tokens.  Every (layer, stride) model is the same size and sees the same
 * examples, so a full predictor's training time is this time times its
 * number of models, which is printed for Mixtral's 31 stride-2 models (the
 * models train one after another on one machine).  Predictions are timed
 * one token at a time, as the simulator and a serving system make them. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/clock.h"
#include "predictors/predictor.h"
#include "traces/trace.h"
#include "traces/trace_gen.h"

enum { TOKENS = 100000, WIDTH = 4096, PREDICTIONS = 5000 };

static void progress(const char *what, int64_t done, int64_t total)
{
    static double last;
    double t = clock_now_s();
    if (t - last < 2 && done < total)
        return;
    last = t;
    fprintf(stderr, "\r  %s: %lld of %lld tokens", what, (long long)done, (long long)total);
    if (done >= total)
        fputc('\n', stderr);
}

static int fail(const promoe_err *err)
{
    fprintf(stderr, "bench_learned: %s\n", err->msg);
    return 1;
}

int main(void)
{
    promoe_err err = {{0}};
    const char *model_path = "bench-learned-model.ini", *path = "bench-learned.h5";
    FILE *f = fopen(model_path, "w");
    if (!f) {
        perror(model_path);
        return 1;
    }
    fputs("[model]\nname = mixtral-2-layers\nnum_layers = 2\nnum_experts = 8\ntop_k = 2\n"
          "hidden_size = 4096\nexpert_ffn_dim = 14336\nnum_heads = 32\nnum_kv_heads = 8\n"
          "head_dim = 128\nvocab_size = 32000\nbits_per_weight = 16\nnorm_topk_prob = 1\n", f);
    fclose(f);
    model_desc m;
    if (model_load(model_path, &m, &err) < 0)
        return fail(&err);
    trace_gen_params g;
    trace_gen_defaults(&g);
    g.num_requests = 0;
    g.max_tokens = TOKENS;
    g.hidden_dim = WIDTH;
    g.content = TRACE_HIDDEN | TRACE_ROUTER_WEIGHT;
    g.compression = TRACE_UNCOMPRESSED;
    printf("learned predictor benchmark: %d tokens, hidden states %d wide, 8 experts, top-2\n",
           TOKENS, WIDTH);
    double t0 = clock_now_s();
    if (trace_gen_write(&g, &m, path, NULL, &err) < 0)
        return fail(&err);
    printf("  trace written in %.1f s\n", clock_now_s() - t0);

    trace_reader *r = trace_reader_open(path, TRACE_HIDDEN, &err);
    if (!r)
        return fail(&err);
    const predictor_ops *ops = predictor_find("learned");
    predictor_env base = {.stride_lo = 1, .stride_hi = 1, .progress = progress};
    void *st = predictor_create_for_trace(ops, "train=bench-learned.h5,split=1,stride=1,wrap=0",
                                          r, path, &base, &err);
    if (!st) {
        trace_reader_close(r);
        return fail(&err);
    }
    predictor_info info = predictor_get_info(ops, st);
    double per_model = info.train_seconds;
    printf("  training one model (%.0f parameters): %lld examples x %d epochs in %.1f s, "
           "%.0f examples/s, final L1 loss %.4f\n", info.params, (long long)info.train_samples,
           info.epochs, per_model, info.train_samples * info.epochs / per_model, info.train_loss);
    printf("  a Mixtral-8x7B stride-2 predictor (31 such models, 4096 wide) on 100k tokens: "
           "%.0f s (%.1f min)\n", 31 * per_model, 31 * per_model / 60);

    /* one token at a time: observe layer 0, predict layer 1 */
    trace_iteration it;
    if (trace_read_iteration(r, &it, &err) <= 0) {
        trace_reader_close(r);
        return fail(&err);
    }
    predictor_obs_buf buf = {0};
    predictor_obs obs;
    double scores[8], sink = 0;
    if (predictor_obs_fill(&buf, &obs, 0, 1, 2, 2, WIDTH, it.request, it.position, it.experts,
                           it.hidden) < 0) {
        fprintf(stderr, "bench_learned: out of memory\n");
        return 1;
    }
    t0 = clock_now_s();
    for (int i = 0; i < PREDICTIONS; i++) {
        ops->begin_iteration(st);
        ops->observe(st, &obs);
        ops->predict(st, 0, 1, scores);
        sink += scores[i % 8];
    }
    double s = clock_now_s() - t0;
    printf("  predictions one token at a time: %.0f /s, %.1f us each (%.0f FLOPs; the paper "
           "measures ~200 us for its MLP on an i9-14900K)  [checksum %.3f]\n", PREDICTIONS / s,
           1e6 * s / PREDICTIONS, info.flops, sink);
    predictor_obs_buf_free(&buf);
    ops->destroy(st);
    trace_reader_close(r);
    unlink(path);
    unlink(model_path);
    return 0;
}
