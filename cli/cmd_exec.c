/* cmd_exec.c - `promoe exec`: real inference of a MoE decoder, timed and
 * optionally recorded as a trace.  The prompts' ids are gathered here and
 * owned by one growing array; the executor only reads them. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/offload_options.h"
#include "cli/report.h"
#include "common/grow.h"
#include "common/options.h"
#include "exec/generate.h"
#include "exec/offload_clock.h"
#include "exec/weights.h"
#include "exec/weights_safetensors.h"
#include "offload/cache.h"
#include "offload/event_log.h"
#include "offload/system.h"
#include "policies/policy.h"
#include "traces/trace.h"

static const char usage[] =
    "usage: promoe exec --model NAME (--prompt-ids IDS | --prompts FILE) [OPTIONS]\n"
    "\n"
    "Runs a MoE decoder for real: each request's prompt, then --max-new tokens by\n"
    "greedy decoding, one request after another (batch 1), and reports the times\n"
    "measured under the same names as 'promoe sim' (prefill_ttft_ms_mean,\n"
    "decode_tpot_ms_mean, ...).  With --record it writes what the model did as a\n"
    "trace v1 that 'promoe sim' and 'promoe predict' replay: the project's recorder\n"
    "of real runs.\n"
    "\n"
    "Offloading (--cache): routed experts live in slots whose contents the\n"
    "simulator's own decision engine decides (its cache, policy, predictor,\n"
    "copy order, preemption and reordering: 'promoe sim' times the same code),\n"
    "fed the run's real events.  A copy thread carries its decisions out: a miss\n"
    "is a demand copy the layer waits for; a prediction of the layer --stride\n"
    "ahead queues prefetches behind it, copied in --chunks pieces that demands\n"
    "overtake (--preempt); --reorder runs the experts already copied first.  The\n"
    "predictor runs on a thread of its own, off the critical path, and sees\n"
    "hidden states rounded to fp16, as a trace holds them; its time is reported.\n"
    "--check-decisions replays the run's events through a fresh engine and\n"
    "checks it decides the same, one by one.\n"
    "\n"
    "Backends: cpu (fp32, OpenBLAS; host memory stands in for the GPU's, copies\n"
    "are memcpy) and, where built with CUDA, cuda (fp16 weights, fp32\n"
    "accumulation in cuBLAS; experts in pinned host memory copied to slots in\n"
    "GPU memory on a copy stream, beside the compute stream).\n"
    "\n"
    "  -m, --model NAME       model preset or .ini (required); 'tiny' runs in a\n"
    "                         blink, a real model's shapes need its fp32 weights in\n"
    "                         memory (Mixtral-8x7B: 188 GB, refused up front)\n"
    "      --weights W        synthetic (default: deterministic random weights with\n"
    "                         the model's shapes, from --seed), or a checkpoint: a\n"
    "                         .safetensors file or a folder of them, named as\n"
    "                         Mixtral, OLMoE, Qwen-MoE or DeepSeek-MoE name them\n"
    "                         (F32/F16/BF16, read into fp32; shapes must match\n"
    "                         --model)\n"
    "      --save-weights F   also write the weights used to F (.safetensors, F32,\n"
    "                         Mixtral naming; models without shared experts)\n"
    "      --backend B        cpu (default) or cuda\n"
    "      --seed N           seed of the synthetic weights (default 1)\n"
    "      --prompt-ids IDS   one request's prompt as token ids, '1,2,3' (may be\n"
    "                         repeated: a request each)\n"
    "      --prompts FILE     JSON lines, a request each: {\"ids\": [...]}, or text as\n"
    "                         MT-Bench has it ({\"turns\": [\"...\"]}: the first turn) or\n"
    "                         {\"prompt\": \"...\"}.  No tokenizer is available, so text\n"
    "                         is taken byte by byte: token id = byte mod vocabulary\n"
    "      --requests N       use the first N prompts of --prompts (default all)\n"
    "      --max-prompt N     cut prompts to N tokens (default 512)\n"
    "  -n, --max-new N        tokens generated per request (default 16)\n"
    "  -c, --cache SIZE       offload: a share of all experts (0.25, 1.0, 25%: a\n"
    "                         decimal point or a percentage), a number of slots\n"
    "                         (256: digits only) or bytes of fp32 experts (1GiB);\n"
    "                         reports hits, misses, prefetches and copies under the\n"
    "                         names 'promoe sim' gives them\n"
    "      --check-decisions  keep the engine's event log (in memory) and replay it\n"
    "                         after the run: the replay's decisions_digest must equal\n"
    "                         the run's (exit 1 if not)\n"
    "  -s, --system NAME      a named configuration (systems/NAME.ini, those the\n"
    "                         executor runs listed at the end, or a path to your\n"
    "                         own); options given explicitly override it.  'promoe\n"
    "                         systems' says what each needs and why the others run\n"
    "                         in 'promoe sim' only\n"
    "      --train T.h5       a trace (recorded with --record-hidden) that a static\n"
    "                         policy learns its fixed set from, or a learned\n"
    "                         predictor trains on\n"
    "  -o, --record OUT.h5    write the run as a trace (atomically): experts, gate\n"
    "                         weights and router logits of every token and layer\n"
    "      --record-hidden[=N]\n"
    "                         also the hidden state entering each layer and the\n"
    "                         router weights (for the learned and gate-reuse\n"
    "                         predictors); =N keeps every N-th layer's (0, N, 2N...;\n"
    "                         the others zeros, marked in the file), a smaller file\n"
    "                         that predictors needing every layer refuse\n"
    "  -j, --json             print one JSON object on one line\n"
    "  -h, --help             show this help\n"
    "\n" OFFLOAD_USAGE;

enum { OPT_WEIGHTS = 256, OPT_BACKEND, OPT_SEED, OPT_IDS, OPT_PROMPTS, OPT_REQUESTS,
       OPT_MAX_PROMPT, OPT_HIDDEN, OPT_SAVE, OPT_TRAIN, OPT_CHECK };

static const struct option options[] = {
    {"model", required_argument, NULL, 'm'},
    {"weights", required_argument, NULL, OPT_WEIGHTS},
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"seed", required_argument, NULL, OPT_SEED},
    {"prompt-ids", required_argument, NULL, OPT_IDS},
    {"prompts", required_argument, NULL, OPT_PROMPTS},
    {"requests", required_argument, NULL, OPT_REQUESTS},
    {"max-prompt", required_argument, NULL, OPT_MAX_PROMPT},
    {"max-new", required_argument, NULL, 'n'},
    {"record", required_argument, NULL, 'o'},
    {"record-hidden", optional_argument, NULL, OPT_HIDDEN},
    {"cache", required_argument, NULL, 'c'},
    {"save-weights", required_argument, NULL, OPT_SAVE},
    {"system", required_argument, NULL, 's'},
    {"train", required_argument, NULL, OPT_TRAIN},
    {"check-decisions", no_argument, NULL, OPT_CHECK},
    OFFLOAD_LONG_OPTIONS,
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Every prompt's ids, back to back; prompt i is ids[start[i] .. start[i+1]). */
typedef struct prompt_set {
    int32_t *ids;
    size_t n, cap;
    size_t *start;
    int count;
    size_t start_cap;
} prompt_set;

static int push_id(prompt_set *ps, int32_t id)
{
    int32_t *g = grow_array(ps->ids, &ps->cap, ps->n + 1, sizeof *g, 1024);
    if (!g)
        return -1;
    ps->ids = g;
    ps->ids[ps->n++] = id;
    return 0;
}

static int prompts_init(prompt_set *ps)
{
    *ps = (prompt_set){.start = malloc(64 * sizeof(size_t)), .start_cap = 64};
    if (!ps->start)
        return -1;
    ps->start[0] = 0;
    return 0;
}

/* Closes the prompt begun at start[count]. */
static int end_prompt(prompt_set *ps)
{
    size_t *g = grow_array(ps->start, &ps->start_cap, (size_t)ps->count + 2, sizeof *g, 64);
    if (!g)
        return -1;
    ps->start = g;
    ps->start[++ps->count] = ps->n;
    return 0;
}

static void prompts_free(prompt_set *ps)
{
    free(ps->ids);
    free(ps->start);
}

/* "1,2,3" into a prompt; ids must be in [0, vocab). */
static int parse_ids(prompt_set *ps, const char *s, int vocab, int max_prompt, promoe_err *err)
{
    int taken = 0;
    while (*s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v >= vocab || (*end && *end != ','))
            return promoe_err_set(err, "--prompt-ids: '%s' is not a list of token ids in "
                                  "[0, %d) like 1,2,3", s, vocab);
        if (taken++ < max_prompt && push_id(ps, (int32_t)v) < 0)
            return promoe_err_set(err, "out of memory");
        s = *end ? end + 1 : end;
    }
    if (taken == 0)
        return promoe_err_set(err, "--prompt-ids: an empty prompt");
    return end_prompt(ps) < 0 ? promoe_err_set(err, "out of memory") : 0;
}

/* One line of --prompts into a prompt. */
static int parse_prompt_line(prompt_set *ps, const char *path, long lineno, const char *line,
                             int vocab, int max_prompt, promoe_err *err)
{
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return promoe_err_set(err, "%s:%ld: not a JSON object", path, lineno);
    }
    json_t *ids = json_object_get(o, "ids"), *turns = json_object_get(o, "turns");
    const char *text = json_string_value(json_object_get(o, "prompt"));
    if (!text && json_is_array(turns))
        text = json_string_value(json_array_get(turns, 0));
    int rc = 0, taken = 0;
    if (json_is_array(ids)) {
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v) {
            json_int_t id = json_integer_value(v);
            if (!json_is_integer(v) || id < 0 || id >= vocab) {
                rc = promoe_err_set(err, "%s:%ld: ids[%zu] is not a token id in [0, %d)", path,
                                    lineno, i, vocab);
                break;
            }
            if (taken++ < max_prompt && push_id(ps, (int32_t)id) < 0)
                rc = promoe_err_set(err, "out of memory");
        }
    } else if (text) {
        for (const unsigned char *c = (const unsigned char *)text; *c && rc == 0; c++)
            if (taken++ < max_prompt && push_id(ps, (int32_t)(*c % vocab)) < 0)
                rc = promoe_err_set(err, "out of memory");
    } else {
        rc = promoe_err_set(err, "%s:%ld: no prompt: expected \"ids\", \"turns\" or \"prompt\"",
                            path, lineno);
    }
    json_decref(o);
    if (rc == 0 && taken == 0)
        rc = promoe_err_set(err, "%s:%ld: an empty prompt", path, lineno);
    if (rc == 0 && end_prompt(ps) < 0)
        rc = promoe_err_set(err, "out of memory");
    return rc;
}

static int read_prompts(prompt_set *ps, const char *path, int vocab, int max_prompt, int limit,
                        promoe_err *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return promoe_err_set(err, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (limit <= 0 || ps->count < limit) && getline(&line, &cap, fp) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        rc = parse_prompt_line(ps, path, lineno, line, vocab, max_prompt, err);
    }
    free(line);
    fclose(fp);
    if (rc == 0 && ps->count == 0)
        rc = promoe_err_set(err, "%s: no prompts", path);
    return rc;
}

static void show_progress(int64_t done, int64_t total)
{
    cli_progress("running requests", done, total);
}

/* What ran, for the report. */
typedef struct run_desc {
    const char *system, *backend, *weights, *policy, *scope, *predictor;
    const offload_config *oc;
    int max_new;
    int checked;                /* the decisions were replayed: replayed_digest */
    uint64_t replayed_digest;
} run_desc;

static double share(double part, double whole) { return whole > 0 ? part / whole : 0; }

static void print_result(const exec_gen_result *r, const model_desc *m, const prompt_set *ps,
                         const run_desc *d, int json)
{
    const offload_config *oc = d->oc;
    const offload_clock_stats *k = &r->offload;
    double gbps = share(k->store.bytes, k->store.copy_s) / 1e9;
    if (json) {
        report rep = {.n = 0};
        char digest[17], replayed[17];
        report_name(&rep, "model", m->name);
        report_name(&rep, "system", d->system);
        report_name(&rep, "backend", d->backend);
        report_name(&rep, "weights", d->weights);
        report_fig(&rep, "requests", "requests", (double)r->requests, 1);
        report_fig(&rep, "tokens", "tokens", (double)(r->prefill_tokens + r->decode_tokens), 1);
        report_fig(&rep, "prefill_tokens", "prefill tokens", (double)r->prefill_tokens, 1);
        report_fig(&rep, "decode_tokens", "decode tokens", (double)r->decode_tokens, 1);
        report_fig(&rep, "total_s", "total time (s)", r->prefill_s + r->decode_s, 0);
        report_fig(&rep, "prefill_ttft_ms_mean", "TTFT mean (ms)", r->ttft_ms_mean, 0);
        report_fig(&rep, "prefill_tokens_per_s", "prefill tokens/s", r->prefill_tokens_per_s, 0);
        report_fig(&rep, "decode_tpot_ms_mean", "TPOT mean (ms)", r->tpot_ms_mean, 0);
        report_fig(&rep, "decode_tokens_per_s", "decode tokens/s", r->decode_tokens_per_s, 0);
        if (k->slots) {
            report_name(&rep, "policy", d->policy);
            report_name(&rep, "cache_scope", d->scope);
            report_name(&rep, "predictor", d->predictor);
            snprintf(digest, sizeof digest, "%016llx", (unsigned long long)k->digest);
            report_name(&rep, "decisions_digest", digest);
            if (d->checked) {
                snprintf(replayed, sizeof replayed, "%016llx",
                         (unsigned long long)d->replayed_digest);
                report_name(&rep, "replayed_digest", replayed);
            }
            report_fig(&rep, "cache_slots", "cache slots", (double)k->slots, 1);
            report_fig(&rep, "stride", "stride", oc->stride, 1);
            report_fig(&rep, "chunks_per_expert", "chunks per expert", oc->chunks, 1);
            report_fig(&rep, "preempt", "preempt", oc->preempt, 1);
            report_fig(&rep, "reorder", "reorder", oc->reorder, 1);
            report_counts(&rep, &k->counts);
            report_fig(&rep, "uncached", "misses used uncached", (double)k->counts.uncached, 1);
            report_fig(&rep, "predictions", "predictions", (double)k->predictions, 1);
            report_fig(&rep, "predictor_s", "predictor time (s)", k->predict_s, 0);
            report_fig(&rep, "predictor_wait_s", "waiting for the predictor (s)",
                       k->predict_wait_s, 0);
            report_fig(&rep, "preemptions", "preemptions", (double)k->store.preemptions, 1);
            report_fig(&rep, "copies", "copies", (double)k->store.copies, 1);
            report_fig(&rep, "copies_withdrawn", "copies withdrawn", (double)k->store.withdrawn,
                       1);
            report_fig(&rep, "pcie_bytes", "bytes copied", k->store.bytes, 1);
            report_fig(&rep, "copy_gbps", "copy GB/s", gbps, 0);
            report_fig(&rep, "fences", "copies fenced", (double)k->store.fences, 1);
            report_fig(&rep, "prefill_stall_share", "prefill time blocked on experts",
                       share(r->prefill_wait_s, r->prefill_s), 0);
            report_fig(&rep, "decode_stall_share", "decode time blocked on experts",
                       share(r->decode_wait_s, r->decode_s), 0);
        }
        json_t *o = report_json(&rep);
        json_t *outs = json_array();
        for (int i = 0; i < ps->count; i++) {
            json_t *a = json_array();
            for (int j = 0; j < d->max_new; j++)
                json_array_append_new(a, json_integer(r->output[(size_t)i * d->max_new + j]));
            json_array_append_new(outs, a);
        }
        json_object_set_new(o, "output_ids", outs);
        cli_print_json(o, 10);
        return;
    }
    printf("%s on the %s backend, system %s: %lld requests, %lld prompt tokens, %lld decode "
           "tokens\n", m->name, d->backend, d->system, (long long)r->requests, (long long)r->prefill_tokens,
           (long long)r->decode_tokens);
    if (k->slots) {
        printf("cache %lld slots (%s, %s), predictor %s", (long long)k->slots, d->policy,
               d->scope, d->predictor);
        if (strcmp(d->predictor, "none") != 0)
            printf(" at stride %d", oc->stride);
        printf("; copies in %d chunk%s%s%s\n", oc->chunks, oc->chunks > 1 ? "s" : "",
               oc->preempt ? ", preempted by demands" : "",
               oc->reorder ? ", reordered experts" : "");
        const offload_counts *n = &k->counts;
        printf("%lld expert demands: %lld hits (%lld late), %lld misses (hit rate %.4f), "
               "%lld evictions\n", (long long)n->demands, (long long)n->hits,
               (long long)n->late_hits, (long long)n->misses, share(n->hits, n->demands),
               (long long)n->evictions);
        if (n->prefetch_issued || n->prefetch_declined)
            printf("%lld prefetches issued, %lld useful (%lld late), %lld dropped, %lld "
                   "declined; %lld preemptions; the predictor took %.1f ms in %lld calls on "
                   "its thread (the model waited %.1f ms for it)\n",
                   (long long)n->prefetch_issued, (long long)n->prefetch_useful,
                   (long long)n->prefetch_late, (long long)n->prefetch_dropped,
                   (long long)n->prefetch_declined,
                   (long long)k->store.preemptions, 1e3 * k->predict_s,
                   (long long)k->predictions, 1e3 * k->predict_wait_s);
        printf("%lld copies (%lld withdrawn), %.1f MB at %.2f GB/s; waiting for copies: "
               "%.1f%% of prefill, %.1f%% of decode\n", (long long)k->store.copies,
               (long long)k->store.withdrawn, k->store.bytes / 1e6, gbps,
               100 * share(r->prefill_wait_s, r->prefill_s),
               100 * share(r->decode_wait_s, r->decode_s));
        if (d->checked)
            printf("decisions checked: the replay of the run's events decides the same "
                   "(digest %016llx)\n", (unsigned long long)d->replayed_digest);
    }
    printf("time to first token   %.3f ms (mean), %.1f prompt tokens/s\n", r->ttft_ms_mean,
           r->prefill_tokens_per_s);
    printf("time per output token %.3f ms (mean), %.1f tokens/s\n", r->tpot_ms_mean,
           r->decode_tokens_per_s);
    for (int i = 0; i < ps->count && i < 8; i++) {
        printf("request %d:", i);
        for (int j = 0; j < d->max_new; j++)
            printf(" %d", r->output[(size_t)i * d->max_new + j]);
        printf("\n");
    }
}

/* What the command line said; -1 or NULL: not given (the system's, or
 * the default, stands). */
typedef struct exec_cli {
    offload_overrides ov; /* the system's settings */
    const char *model, *weights, *backend, *prompts, *record, *cache, *save;
    const char *system, *train;
    const char *ids[256];
    int n_ids, requests, max_prompt, max_new, hidden, json, check;
    long long seed;
} exec_cli;

static int parse(int argc, char **argv, exec_cli *o)
{
    const char *cmd = "exec";
    *o = (exec_cli){.weights = "synthetic", .backend = "cpu",
                    .max_prompt = 512, .max_new = 16, .seed = 1};
    int c;
    while ((c = cli_getopt(argc, argv, "m:n:o:c:p:s:jh", options, cmd)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case OPT_WEIGHTS: o->weights = optarg; break;
        case OPT_BACKEND: o->backend = optarg; break;
        case OPT_SEED:
            if (cli_parse_int(cmd, "--seed", optarg, 0, 4294967295LL, &o->seed) < 0)
                return CLI_USAGE;
            break;
        case OPT_IDS:
            if (o->n_ids == 256)
                return cli_usage_error(cmd, "more than 256 --prompt-ids (use --prompts FILE)");
            o->ids[o->n_ids++] = optarg;
            break;
        case OPT_PROMPTS: o->prompts = optarg; break;
        case OPT_REQUESTS:
            if (cli_parse_int_to(cmd, "--requests", optarg, 1, 1 << 24, &o->requests) < 0)
                return CLI_USAGE;
            break;
        case OPT_MAX_PROMPT:
            if (cli_parse_int_to(cmd, "--max-prompt", optarg, 1, 1 << 20, &o->max_prompt) < 0)
                return CLI_USAGE;
            break;
        case 'n':
            if (cli_parse_int_to(cmd, "--max-new", optarg, 1, 1 << 20, &o->max_new) < 0)
                return CLI_USAGE;
            break;
        case 'o': o->record = optarg; break;
        case OPT_HIDDEN:
            o->hidden = 1;
            if (optarg &&
                cli_parse_int_to(cmd, "--record-hidden", optarg, 1, 1024, &o->hidden) < 0)
                return CLI_USAGE;
            break;
        case 'c': o->cache = optarg; break;
        case OPT_SAVE: o->save = optarg; break;
        case 's': o->system = optarg; break;
        case OPT_TRAIN: o->train = optarg; break;
        case OPT_CHECK: o->check = 1; break;
        case 'j': o->json = 1; break;
        case 'h':
            fputs(usage, stdout);
            cli_list_systems(stdout, 1);
            exit(CLI_OK);
        default:
            if (offload_option(cmd, c, optarg, &o->ov) <= 0)
                return CLI_USAGE;
            break;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->model)
        return cli_usage_error(cmd, "no model: give --model NAME (e.g. tiny)");
    if ((o->n_ids > 0) == (o->prompts != NULL))
        return cli_usage_error(cmd, "give the prompts with --prompt-ids or with --prompts, one "
                               "of them");
    if (o->hidden && !o->record)
        return cli_usage_error(cmd, "--record-hidden needs --record OUT.h5");
    return offload_options_check(cmd, &o->ov);
}

/* The run's configuration as the simulator reads it: the system's (or
 * the defaults), then what the command line said.  predictor receives the
 * predictor's spec; *cache becomes NULL for a system with every expert
 * resident. */
static int configure(const exec_cli *o, const model_desc *m, system_desc *sd, offload_config *oc,
                     char *predictor, size_t pred_len, const char **cache)
{
    const char *cmd = "exec";
    promoe_err err;
    offload_config_defaults(oc);
    snprintf(predictor, pred_len, "none");
    int rc = offload_options_system(cmd, o->system, &o->ov, sd);
    if (rc != CLI_OK)
        return rc;
    /* what the system is, before what it needs: refused for the first */
    if (system_settings(sd, oc, m, &err) < 0)
        return cli_fail(&err);
    const char *lacks = offload_clock_lacks(oc);
    if (lacks && o->system)
        promoe_err_set(&err, "system %s needs %s, which the executor does not run ('promoe "
                       "systems' says which it runs); replay a recorded trace in 'promoe sim "
                       "--system %s'", sd->name, lacks, sd->name);
    else if (lacks)
        promoe_err_set(&err, "the executor does not run %s; replay a recorded trace in "
                       "'promoe sim' with the same options", lacks);
    if (lacks)
        return cli_fail(&err);
    if (sd->all_gpu) {
        *cache = NULL;
        return CLI_OK;
    }
    if (o->system) {
        int fell_back;
        if (!*cache)
            return cli_usage_error(cmd, "system %s offloads: give --cache SIZE", sd->name);
        if (offload_options_need_train(cmd, sd, o->train) != CLI_OK)
            return CLI_USAGE;
        /* a running model has its hidden states and router weights */
        if (system_apply(sd, oc, m, 1, o->train, predictor, pred_len, &fell_back, &err) < 0)
            return cli_fail(&err);
        if (fell_back && !o->ov.predictor)
            fprintf(stderr, "promoe exec: note: system %s prefers predictor %.*s, which needs "
                    "training data (give --train T.h5, a trace recorded with "
                    "--record-hidden); running with %s\n", sd->name,
                    (int)strcspn(sd->predictor, "|"), sd->predictor, predictor);
    }
    if (o->ov.predictor)
        snprintf(predictor, pred_len, "%s", o->ov.predictor);
    if (policy_find(oc->policy)->needs_future)
        return cli_usage_error(cmd, "policy %s reads the future, which a running model does "
                               "not know: record the run and replay it in 'promoe sim'",
                               oc->policy);
    return CLI_OK;
}

/* The predictor named by spec ("none": NULL, with *ops NULL), for the
 * model of w; routers must outlive it. */
static int make_predictor(const char *spec, const exec_weights *w, const offload_config *oc,
                          const float *routers, const predictor_ops **ops, void **st)
{
    const char *cmd = "exec";
    char name[64];
    const char *options = options_split_spec(spec, name, sizeof name);
    *ops = NULL;
    *st = NULL;
    if (strcmp(name, "none") == 0)
        return CLI_OK;
    if (!(*ops = predictor_find(name)))
        return cli_usage_error(cmd, "unknown predictor '%s' (predictors: %s)", name,
                               predictor_names());
    if ((*ops)->needs_future)
        return cli_usage_error(cmd, "predictor %s reads the future, which a running model does "
                               "not know: record the run and replay it in 'promoe sim'", name);
    const model_desc *m = &w->model;
    predictor_env env = {.num_layers = m->num_layers, .num_experts = m->num_experts,
                         .top_k = m->top_k, .hidden_dim = m->hidden_size,
                         .stride_lo = oc->stride, .stride_hi = oc->stride,
                         .seed = 1, /* the simulator's default --seed: a replay predicts alike */
                         .router_weight = routers, .progress = cli_progress};
    promoe_err err;
    *st = (*ops)->create(&env, options, &err);
    cli_progress_done();
    return *st ? CLI_OK : cli_fail(&err);
}

int cmd_exec(int argc, char **argv)
{
    const char *cmd = "exec";
    exec_cli o;
    int rc = parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    const exec_backend_ops *backend;
    if ((rc = cli_find_backend(cmd, o.backend, &backend)) != CLI_OK)
        return rc;
    promoe_err err;
    model_desc m;
    if ((rc = model_load(o.model, &m, &err)) < 0)
        return cli_fail_preset(cmd, rc, &err);
    system_desc sd; /* oc points into it */
    offload_config oc;
    char predictor[1200];
    const char *cache = o.cache;
    if ((rc = configure(&o, &m, &sd, &oc, predictor, sizeof predictor, &cache)) != CLI_OK)
        return rc;
    oc.slots = 0; /* every expert resident */
    if (cache && cache_size_parse(cache, m.num_layers, m.num_experts,
                                  exec_expert_floats(&m) * sizeof(float), &oc.slots, &err) < 0)
        return cli_usage_error(cmd, "%s", err.msg);
    if (!cache && strcmp(predictor, "none") != 0)
        return cli_usage_error(cmd, "predictor %s prefetches into a cache: give --cache SIZE",
                               predictor);
    if (!cache && o.check)
        return cli_usage_error(cmd, "--check-decisions checks an offloading run's decisions: "
                               "give --cache SIZE");
    prompt_set ps;
    if (prompts_init(&ps) < 0) {
        promoe_err_set(&err, "out of memory");
        return cli_fail(&err);
    }
    for (int i = 0; i < o.n_ids; i++)
        if (parse_ids(&ps, o.ids[i], m.vocab_size, o.max_prompt, &err) < 0) {
            prompts_free(&ps);
            return cli_usage_error(cmd, "%s", err.msg);
        }
    if (o.prompts && read_prompts(&ps, o.prompts, m.vocab_size, o.max_prompt, o.requests,
                                  &err) < 0) {
        prompts_free(&ps);
        return cli_fail(&err);
    }
    exec_weights w;
    int synthetic = strcmp(o.weights, "synthetic") == 0;
    if (exec_weights_from(&m, o.weights, (unsigned long)o.seed, &w, &err) < 0) {
        prompts_free(&ps);
        return cli_fail(&err);
    }
    if (o.save && exec_weights_save(&w, o.save, 0, &err) < 0) {
        exec_weights_free(&w);
        prompts_free(&ps);
        return cli_fail(&err);
    }
    const predictor_ops *pred_ops = NULL;
    void *pred = NULL;
    offload_log log = {0};
    float *routers = strcmp(predictor, "none") != 0 ? exec_weights_routers(&w) : NULL;
    if (routers) /* as the recorded trace holds them, so its replay predicts the same */
        trace_round_stored(routers, (size_t)m.num_layers * m.num_experts * m.hidden_size);
    exec_prompt *list = malloc((size_t)ps.count * sizeof *list);
    if (!list || (strcmp(predictor, "none") != 0 && !routers)) {
        promoe_err_set(&err, "out of memory");
        rc = cli_fail(&err);
        goto out;
    }
    if ((rc = make_predictor(predictor, &w, &oc, routers, &pred_ops, &pred)) != CLI_OK)
        goto out;
    char source[128];
    if (synthetic)
        snprintf(source, sizeof source, "promoe exec (%s backend, synthetic weights, seed %lld)",
                 backend->name, o.seed);
    else
        snprintf(source, sizeof source, "promoe exec (%s backend, weights %.80s)", backend->name,
                 o.weights);
    exec_gen_config cfg = {.backend = backend, .max_new = o.max_new, .record = o.record,
                           .record_hidden = o.hidden,
                           .source = source, .dataset = o.prompts ? "prompts" : "ids",
                           .offload = oc, .pops = pred_ops, .pst = pred,
                           .log = o.check ? &log : NULL, .progress = show_progress};
    exec_gen_result r;
    for (int i = 0; i < ps.count; i++)
        list[i] = (exec_prompt){ps.ids + ps.start[i], (int)(ps.start[i + 1] - ps.start[i])};
    int failed = exec_generate(&w, list, ps.count, &cfg, &r, &err) < 0;
    cli_progress_done();
    if (failed) {
        rc = cli_fail(&err);
        goto out;
    }
    uint64_t replayed = 0;
    if (o.check && (offload_log_replay(&log, &oc, m.num_layers, m.num_experts, m.top_k, NULL,
                                       &replayed, &err) < 0 ||
                    (replayed != r.offload.digest &&
                     promoe_err_set(&err, "the replay of the run's events decided differently "
                                    "(digest %016llx, the run's %016llx): the executor made a "
                                    "decision the engine did not", (unsigned long long)replayed,
                                    (unsigned long long)r.offload.digest) < 0))) {
        free(r.output);
        rc = cli_fail(&err);
        goto out;
    }
    run_desc d = {.system = o.system ? sd.name : oc.slots ? "reactive" : "all-gpu",
                  .backend = backend->name,
                  .weights = o.weights, .policy = oc.policy,
                  .scope = oc.per_layer ? "per-layer" : "global", .predictor = predictor,
                  .oc = &oc, .max_new = o.max_new, .checked = o.check,
                  .replayed_digest = replayed};
    print_result(&r, &m, &ps, &d, o.json);
    if (o.record && !o.json)
        printf("wrote %s\n", o.record);
    free(r.output);
    rc = CLI_OK;
out:
    if (pred)
        pred_ops->destroy(pred);
    offload_log_free(&log);
    free(routers);
    free(list);
    exec_weights_free(&w);
    prompts_free(&ps);
    return rc;
}
