/* cmd_exec.c - `promoe exec`: real inference of a MoE decoder, timed and
 * optionally recorded as a trace.  The prompts' ids are gathered here and
 * owned by one growing array; the executor only reads them. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/grow.h"
#include "common/options.h"
#include "policies/policy.h"
#include "sim/cache.h"
#include "sim/system.h"
#include "exec/generate.h"
#include "exec/weights.h"
#include "exec/weights_safetensors.h"

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
    "Built so far: the CPU backend (fp32, OpenBLAS; host memory stands in for the\n"
    "GPU's), every expert resident or, with --cache, routed experts offloaded to\n"
    "slots that the simulator's own cache and policy manage, a missed expert\n"
    "copied in (3 chunks, one a matrix) by a copy worker thread before it runs:\n"
    "the reactive systems.  Prefetching predictors, --system and the CUDA\n"
    "backend are the executor issue's next steps.\n"
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
    "      --backend B        cpu (default)\n"
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
    "  -c, --cache SIZE       offload: slots for a fraction of all experts (0.25), a\n"
    "                         number of them (256) or bytes of fp32 experts (1GiB);\n"
    "                         reports hits, misses and copies as 'promoe sim\n"
    "                         --hits-only' counts them on the recorded trace\n"
    "  -s, --system NAME      a named configuration (systems/NAME.ini) the executor\n"
    "                         can run so far: all-gpu, reactive-lru, static (needs\n"
    "                         --train); its policy and scope replace --policy and\n"
    "                         --cache-scope.  Systems that prefetch are refused\n"
    "      --train T.h5       the trace a static policy learns its fixed set from\n"
    "  -p, --policy NAME[:k=v,...]\n"
    "                         the cache's eviction policy (default lru): lru, lfu,\n"
    "                         fifo, lru-k, static:trace=T.h5 (belady needs the\n"
    "                         future: replay the trace in 'promoe sim')\n"
    "      --cache-scope S    global (default) or per-layer\n"
    "  -o, --record OUT.h5    write the run as a trace (atomically): experts, gate\n"
    "                         weights and router logits of every token and layer\n"
    "      --record-hidden    also the hidden state entering each layer and the\n"
    "                         router weights (for the learned and gate-reuse\n"
    "                         predictors)\n"
    "  -j, --json             print one JSON object on one line\n"
    "  -h, --help             show this help\n";

enum { OPT_WEIGHTS = 256, OPT_BACKEND, OPT_SEED, OPT_IDS, OPT_PROMPTS, OPT_REQUESTS,
       OPT_MAX_PROMPT, OPT_HIDDEN, OPT_SCOPE, OPT_SAVE, OPT_TRAIN };

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
    {"record-hidden", no_argument, NULL, OPT_HIDDEN},
    {"cache", required_argument, NULL, 'c'},
    {"policy", required_argument, NULL, 'p'},
    {"cache-scope", required_argument, NULL, OPT_SCOPE},
    {"save-weights", required_argument, NULL, OPT_SAVE},
    {"system", required_argument, NULL, 's'},
    {"train", required_argument, NULL, OPT_TRAIN},
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

static void print_result(const exec_gen_result *r, const model_desc *m, const prompt_set *ps,
                         const char *weights, const char *system, int max_new, int json)
{
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f}",
                              "model", m->name, "system", "all-gpu", "backend", "cpu", "weights",
                              weights, "requests", (json_int_t)r->requests, "tokens",
                              (json_int_t)(r->prefill_tokens + r->decode_tokens),
                              "prefill_tokens", (json_int_t)r->prefill_tokens, "decode_tokens",
                              (json_int_t)r->decode_tokens, "total_s", r->prefill_s + r->decode_s,
                              "prefill_ttft_ms_mean", r->ttft_ms_mean, "prefill_tokens_per_s",
                              r->prefill_tokens_per_s, "decode_tpot_ms_mean", r->tpot_ms_mean,
                              "decode_tokens_per_s", r->decode_tokens_per_s);
        json_t *outs = json_array();
        for (int i = 0; i < ps->count; i++) {
            json_t *a = json_array();
            for (int j = 0; j < max_new; j++)
                json_array_append_new(a, json_integer(r->output[(size_t)i * max_new + j]));
            json_array_append_new(outs, a);
        }
        json_object_set_new(o, "system", json_string(system ? system : r->slots ? "reactive"
                                                                               : "all-gpu"));
        if (r->slots) {
            json_object_set_new(o, "cache_slots", json_integer(r->slots));
            json_object_set_new(o, "accesses", json_integer(r->accesses));
            json_object_set_new(o, "hits", json_integer(r->hits));
            json_object_set_new(o, "misses", json_integer(r->misses));
            json_object_set_new(o, "evictions", json_integer(r->evictions));
            json_object_set_new(o, "hit_rate", json_real(r->hit_rate));
            json_object_set_new(o, "copies", json_integer(r->copies));
            json_object_set_new(o, "pcie_bytes", json_real(r->copied_bytes));
            json_object_set_new(o, "copy_gbps",
                                json_real(r->copy_s > 0 ? r->copied_bytes / r->copy_s / 1e9 : 0));
        }
        json_object_set_new(o, "output_ids", outs);
        cli_print_json(o, 10);
        return;
    }
    printf("%s on the CPU (%s): %lld requests, %lld prompt tokens, %lld decode tokens\n",
           m->name, r->slots ? "experts offloaded" : "all experts resident",
           (long long)r->requests, (long long)r->prefill_tokens, (long long)r->decode_tokens);
    if (r->slots)
        printf("cache %lld slots: %lld accesses, %lld hits, %lld misses (hit rate %.4f), "
               "%lld evictions; %lld copies, %.1f MB at %.2f GB/s\n", (long long)r->slots,
               (long long)r->accesses, (long long)r->hits, (long long)r->misses, r->hit_rate,
               (long long)r->evictions, (long long)r->copies, r->copied_bytes / 1e6,
               r->copy_s > 0 ? r->copied_bytes / r->copy_s / 1e9 : 0);
    printf("time to first token   %.3f ms (mean), %.1f prompt tokens/s\n", r->ttft_ms_mean,
           r->prefill_tokens_per_s);
    printf("time per output token %.3f ms (mean), %.1f tokens/s\n", r->tpot_ms_mean,
           r->decode_tokens_per_s);
    for (int i = 0; i < ps->count && i < 8; i++) {
        printf("request %d:", i);
        for (int j = 0; j < max_new; j++)
            printf(" %d", r->output[(size_t)i * max_new + j]);
        printf("\n");
    }
}

/* 1 if the executor can run system s as configured so far (no
 * prediction, no chunked or preempted copies, no layer offload); else 0
 * with a message naming what it lacks. */
static int executor_runs(const system_desc *s, promoe_err *err)
{
    char first[64];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(s->predictor, "|"), s->predictor);
    const char *lacks = s->layer_offload[0] ? "whole layers offloaded"
                        : first[0] && strcmp(first, "none") != 0 ? "a prefetching predictor"
                        : s->chunks > 1 || s->chunk_bytes[0] ? "chunked prefetch"
                        : s->preempt > 0 ? "early preemption"
                        : s->reorder > 0 ? "reordered inference"
                        : s->cpu_compute > 0 ? "misses computed on the CPU"
                        : s->lowbit_on_miss[0] ? "low-precision loads"
                        : s->staging > 0 ? "staging buffers"
                        : s->fault_us > 0 ? "page-fault costs (unified memory)" : NULL;
    if (!lacks)
        return 1;
    promoe_err_set(err, "system %s needs %s, which the executor does not run yet (it runs "
                   "all-gpu, reactive-lru and static; replay a recorded trace in 'promoe sim "
                   "--system %s')", s->name, lacks, s->name);
    return 0;
}

int cmd_exec(int argc, char **argv)
{
    const char *cmd = "exec";
    const char *model = NULL, *weights = "synthetic", *backend = "cpu", *prompts_path = NULL;
    const char *record = NULL, *cache = NULL, *policy = "lru", *scope = "global", *save = NULL;
    const char *system = NULL, *train = NULL;
    const char *ids_args[256];
    int n_ids = 0, requests = 0, max_prompt = 512, max_new = 16, hidden = 0, json = 0, c;
    long long seed = 1;
    while ((c = cli_getopt(argc, argv, "m:n:o:c:p:s:jh", options, cmd)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case OPT_WEIGHTS: weights = optarg; break;
        case OPT_BACKEND: backend = optarg; break;
        case OPT_SEED:
            if (cli_parse_int(cmd, "--seed", optarg, 0, 4294967295LL, &seed) < 0)
                return CLI_USAGE;
            break;
        case OPT_IDS:
            if (n_ids == 256)
                return cli_usage_error(cmd, "more than 256 --prompt-ids (use --prompts FILE)");
            ids_args[n_ids++] = optarg;
            break;
        case OPT_PROMPTS: prompts_path = optarg; break;
        case OPT_REQUESTS:
            if (cli_parse_int_to(cmd, "--requests", optarg, 1, 1 << 24, &requests) < 0)
                return CLI_USAGE;
            break;
        case OPT_MAX_PROMPT:
            if (cli_parse_int_to(cmd, "--max-prompt", optarg, 1, 1 << 20, &max_prompt) < 0)
                return CLI_USAGE;
            break;
        case 'n':
            if (cli_parse_int_to(cmd, "--max-new", optarg, 1, 1 << 20, &max_new) < 0)
                return CLI_USAGE;
            break;
        case 'o': record = optarg; break;
        case OPT_HIDDEN: hidden = 1; break;
        case 'c': cache = optarg; break;
        case 'p': policy = optarg; break;
        case OPT_SCOPE: scope = optarg; break;
        case OPT_SAVE: save = optarg; break;
        case 's': system = optarg; break;
        case OPT_TRAIN: train = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model)
        return cli_usage_error(cmd, "no model: give --model NAME (e.g. tiny)");
    if (strcmp(backend, "cpu") != 0)
        return cli_usage_error(cmd, "--backend %s: only the cpu backend is built so far", backend);
    if ((n_ids > 0) == (prompts_path != NULL))
        return cli_usage_error(cmd, "give the prompts with --prompt-ids or with --prompts, one of them");
    if (hidden && !record)
        return cli_usage_error(cmd, "--record-hidden needs --record OUT.h5");
    system_desc sd;
    promoe_err err;
    char policy_name[64];
    const char *policy_options = options_split_spec(policy, policy_name, sizeof policy_name);
    if (system) {
        if (system_load(system, &sd, &err) < 0)
            return cli_fail(&err);
        if (!executor_runs(&sd, &err))
            return cli_fail(&err);
        if (sd.all_gpu) {
            cache = NULL;
        } else {
            if (!cache)
                return cli_usage_error(cmd, "system %s offloads: give --cache SIZE", sd.name);
            if (sd.policy_trace && !train)
                return cli_usage_error(cmd, "system %s learns its fixed experts from a trace: "
                                       "give --train T.h5", sd.name);
            /* the simulator's reading of the system: its policy, with the
             * training trace among the options, and its scope */
            sim_config sc;
            char predictor[1200];
            int fell_back;
            sim_config_defaults(&sc);
            if (system_apply(&sd, &sc, 0, train, predictor, sizeof predictor, &fell_back,
                             &err) < 0)
                return cli_fail(&err);
            snprintf(policy_name, sizeof policy_name, "%s", sc.policy);
            policy_options = sc.policy_options; /* lives in sd */
            scope = sc.per_layer ? "per-layer" : "global";
        }
    }
    const cache_policy_ops *pops = policy_find(policy_name);
    if (!pops)
        return cli_usage_error(cmd, "unknown policy '%s' (policies: %s)", policy_name,
                               policy_names());
    if (pops->needs_future)
        return cli_usage_error(cmd, "policy %s reads the future, which a running model does "
                               "not know: record the run and replay it in 'promoe sim'",
                               policy_name);
    if (strcmp(scope, "global") != 0 && strcmp(scope, "per-layer") != 0)
        return cli_usage_error(cmd, "--cache-scope: '%s' is neither global nor per-layer", scope);
    model_desc m;
    if (model_load(model, &m, &err) < 0)
        return cli_fail(&err);
    int64_t slots = 0;
    if (cache && cache_size_parse(cache, m.num_layers, m.num_experts,
                                  exec_expert_floats(&m) * sizeof(float), &slots, &err) < 0)
        return cli_fail(&err);
    prompt_set ps;
    if (prompts_init(&ps) < 0) {
        promoe_err_set(&err, "out of memory");
        return cli_fail(&err);
    }
    for (int i = 0; i < n_ids; i++)
        if (parse_ids(&ps, ids_args[i], m.vocab_size, max_prompt, &err) < 0) {
            prompts_free(&ps);
            return cli_usage_error(cmd, "%s", err.msg);
        }
    if (prompts_path && read_prompts(&ps, prompts_path, m.vocab_size, max_prompt, requests,
                                     &err) < 0) {
        prompts_free(&ps);
        return cli_fail(&err);
    }
    int rc = 0;
    exec_weights w;
    int synthetic = strcmp(weights, "synthetic") == 0;
    if (exec_weights_from(&m, weights, (unsigned long)seed, &w, &err) < 0) {
        prompts_free(&ps);
        return cli_fail(&err);
    }
    if (save && exec_weights_save(&w, save, 0, &err) < 0) {
        exec_weights_free(&w);
        prompts_free(&ps);
        return cli_fail(&err);
    }
    exec_prompt *list = malloc((size_t)ps.count * sizeof *list);
    char source[128];
    if (synthetic)
        snprintf(source, sizeof source, "promoe exec (cpu backend, synthetic weights, seed %lld)",
                 seed);
    else
        snprintf(source, sizeof source, "promoe exec (cpu backend, weights %.80s)", weights);
    exec_gen_config cfg = {.max_new = max_new, .record = record, .record_hidden = hidden,
                           .source = source, .dataset = prompts_path ? "prompts" : "ids",
                           .cache_slots = slots, .policy = policy_name,
                           .policy_options = policy_options,
                           .per_layer = strcmp(scope, "per-layer") == 0,
                           .progress = show_progress};
    exec_gen_result r;
    if (!list) {
        promoe_err_set(&err, "out of memory");
        rc = -1;
    } else {
        for (int i = 0; i < ps.count; i++)
            list[i] = (exec_prompt){ps.ids + ps.start[i], (int)(ps.start[i + 1] - ps.start[i])};
        rc = exec_generate(&w, list, ps.count, &cfg, &r, &err);
        cli_progress_done();
    }
    if (rc == 0) {
        print_result(&r, &m, &ps, weights, system, max_new, json);
        if (record && !json)
            printf("wrote %s\n", record);
        free(r.output);
    }
    free(list);
    exec_weights_free(&w);
    prompts_free(&ps);
    return rc == 0 ? CLI_OK : cli_fail(&err);
}
