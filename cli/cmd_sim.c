/* cmd_sim.c - `promoe sim`: replay a trace against a cache configuration. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "models/model.h"
#include "policies/policy.h"
#include "sim/cache.h"
#include "sim/hits.h"
#include "traces/trace.h"

static const char usage[] =
    "usage: promoe sim --trace T.h5 --hits-only --cache SIZE [OPTIONS]\n"
    "\n"
    "Replays a trace's expert accesses against a GPU expert cache.  With\n"
    "--hits-only, accesses are taken token by token, layer by layer, experts in\n"
    "rank order, and only hits and misses are counted (no timing; L, E, K come\n"
    "from the trace, so no model or hardware is needed).  The timed simulation\n"
    "(cost model, prefetching, predictors) is being built and is not available yet.\n"
    "\n"
    "  -t, --trace FILE       trace to replay (required)\n"
    "      --hits-only        count hits and misses only (required for now)\n"
    "  -c, --cache SIZE       cache size: a fraction of all experts below 1 (0.25),\n"
    "                         a number of slots (256), or bytes with a unit\n"
    "                         (12GiB; needs --model) (required)\n"
    "      --cache-scope S    global (one pool, default) or per-layer (slots / L each)\n"
    "  -p, --policy NAME[:k=v,...]\n"
    "                         eviction policy (default lru): lru, lfu, fifo, or\n"
    "                         belady (offline optimum, reads the future: an upper bound)\n"
    "  -m, --model NAME       model preset, to size experts for byte cache sizes\n"
    "  -j, --json             print one JSON object on one line\n"
    "      --csv              print a header line and one row\n"
    "  -h, --help             show this help\n";

enum { OPT_HITS = 256, OPT_SCOPE, OPT_CSV };

static const struct option options[] = {
    {"trace", required_argument, NULL, 't'},
    {"hits-only", no_argument, NULL, OPT_HITS},
    {"cache", required_argument, NULL, 'c'},
    {"cache-scope", required_argument, NULL, OPT_SCOPE},
    {"policy", required_argument, NULL, 'p'},
    {"model", required_argument, NULL, 'm'},
    {"json", no_argument, NULL, 'j'},
    {"csv", no_argument, NULL, OPT_CSV},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void print_result(const char *trace, const char *policy, const char *scope,
                         const sim_hits_result *r, int json, int csv)
{
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f}",
                              "trace", trace, "policy", policy, "cache_scope", scope,
                              "cache_slots", (json_int_t)r->slots, "tokens", (json_int_t)r->tokens,
                              "accesses", (json_int_t)r->accesses, "hits", (json_int_t)r->hits,
                              "misses", (json_int_t)r->misses, "evictions", (json_int_t)r->evictions,
                              "hit_rate", r->hit_rate);
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(8));
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else if (csv) {
        printf("trace,policy,cache_scope,cache_slots,tokens,accesses,hits,misses,evictions,"
               "hit_rate\n");
        printf("%s,%s,%s,%lld,%lld,%lld,%lld,%lld,%lld,%.8f\n", trace, policy, scope,
               (long long)r->slots, (long long)r->tokens, (long long)r->accesses,
               (long long)r->hits, (long long)r->misses, (long long)r->evictions, r->hit_rate);
    } else {
        printf("trace        %s\npolicy       %s, %s cache of %lld experts\n", trace, policy, scope,
               (long long)r->slots);
        printf("tokens       %lld\naccesses     %lld\nhits         %lld\nmisses       %lld "
               "(%lld evictions)\nhit rate     %.4f\n",
               (long long)r->tokens, (long long)r->accesses, (long long)r->hits,
               (long long)r->misses, (long long)r->evictions, r->hit_rate);
    }
}

int cmd_sim(int argc, char **argv)
{
    const char *cmd = "sim", *trace = NULL, *cache = NULL, *policy = "lru", *model = NULL;
    const char *scope = "global";
    int hits_only = 0, json = 0, csv = 0, c;
    while ((c = cli_getopt(argc, argv, "t:c:p:m:jh", options, cmd)) != -1) {
        switch (c) {
        case 't': trace = optarg; break;
        case OPT_HITS: hits_only = 1; break;
        case 'c': cache = optarg; break;
        case OPT_SCOPE: scope = optarg; break;
        case 'p': policy = optarg; break;
        case 'm': model = optarg; break;
        case 'j': json = 1; break;
        case OPT_CSV: csv = 1; break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!trace)
        return cli_usage_error(cmd, "no trace: give --trace T.h5");
    if (!cache)
        return cli_usage_error(cmd, "no cache size: give --cache (e.g. 0.25, 256 or 12GiB)");
    if (strcmp(scope, "global") != 0 && strcmp(scope, "per-layer") != 0)
        return cli_usage_error(cmd, "--cache-scope: expected global or per-layer, got '%s'", scope);
    if (json && csv)
        return cli_usage_error(cmd, "choose one of --json and --csv");
    if (!hits_only)
        return cli_usage_error(cmd, "the timed simulation is not built yet; use --hits-only");
    char name[64];
    const char *colon = strchr(policy, ':');
    snprintf(name, sizeof name, "%.*s", colon ? (int)(colon - policy) : (int)strlen(policy), policy);
    if (!policy_find(name))
        return cli_usage_error(cmd, "unknown policy '%s' (policies: %s)", name, policy_names());

    promoe_err err;
    trace_meta meta;
    model_desc md;
    size_t expert_bytes = 0;
    if (trace_read_meta(trace, &meta, &err) < 0)
        return cli_fail(&err);
    if (model) {
        if (model_load(model, &md, &err) < 0)
            return cli_fail(&err);
        if (md.num_layers != meta.num_layers || md.num_experts != meta.num_experts)
            return cli_fail((promoe_err_set(&err, "model %s (%d layers, %d experts) does not "
                             "match the trace (%d layers, %d experts)", md.name, md.num_layers,
                             md.num_experts, meta.num_layers, meta.num_experts), &err));
        expert_bytes = model_expert_bytes(&md);
    }
    sim_hits_config cfg = {.policy = name, .policy_options = colon ? colon + 1 : NULL,
                           .per_layer = strcmp(scope, "per-layer") == 0};
    if (cache_size_parse(cache, meta.num_layers, meta.num_experts, expert_bytes, &cfg.slots,
                         &err) < 0)
        return cli_fail(&err);
    sim_hits_result r;
    if (sim_hits_replay(trace, &cfg, &r, &err) < 0)
        return cli_fail(&err);
    print_result(trace, policy, scope, &r, json, csv);
    return CLI_OK;
}
