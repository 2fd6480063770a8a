/* cmd_trace_popularity.c - `promoe trace popularity`: the concentration
 * curve of expert accesses (the paper's Fig. 5), from a trace or from
 * published per-expert counts. */
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "common/csv.h"
#include "traces/access_curve.h"

static const char usage[] =
    "usage: promoe trace popularity [--points N] [--layer L] [--json|--csv] SOURCE\n"
    "\n"
    "How concentrated expert accesses are (the paper's Fig. 5, its CDF of expert\n"
    "access frequency): per layer, the experts sorted from most to least often\n"
    "chosen, and the share of the layer's accesses that its top x of experts take,\n"
    "at x = 1/N, 2/N, ..., 1 (linear between whole experts), averaged over the\n"
    "layers.  A uniform router gives access share = x; a static cache holding x\n"
    "of each layer's experts hits at most the access share.\n"
    "SOURCE is a trace (.h5; every token, prefill and decode, is counted) or a\n"
    "CSV of counts (.csv) with the header layer,expert,count, such as OLMoE's\n"
    "published routing statistics (../shared/data/olmoe-routing-counts).\n"
    "\n"
    "  -n, --points N         points of the curve (default 20)\n"
    "  -l, --layer L          that layer only (its number as SOURCE names it)\n"
    "                         instead of the mean over layers\n"
    "  -j, --json             one JSON object per point, one a line\n"
    "      --csv              a header line and one row per point\n"
    "  -h, --help             show this help\n";

enum { OPT_CSV = 256 };

static const struct option options[] = {
    {"points", required_argument, NULL, 'n'},
    {"layer", required_argument, NULL, 'l'},
    {"json", no_argument, NULL, 'j'},
    {"csv", no_argument, NULL, OPT_CSV},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int is_csv(const char *path)
{
    size_t n = strlen(path);
    return n >= 4 && strcasecmp(path + n - 4, ".csv") == 0;
}

static void print_point(const char *source, const char *layer, int experts, double x,
                        double share, int json, int csv)
{
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:i, s:f, s:f, s:f}", "source", source, "layer", layer,
                              "experts", experts, "experts_share", x, "top_experts", x * experts,
                              "access_share", share);
        cli_print_json(o, 6);
    } else if (csv) {
        csv_write_field(stdout, source);
        printf(",%s,%d,%.6f,%.6f,%.6f\n", layer, experts, x, x * experts, share);
    } else {
        printf("%8.3f %10.2f %12.4f\n", x, x * experts, share);
    }
}

int cmd_trace_popularity(int argc, char **argv)
{
    const char *cmd = "trace popularity";
    int json = 0, csv = 0, points = 20, layer = -1, c;
    while ((c = cli_getopt(argc, argv, "n:l:jh", options, cmd)) != -1) {
        switch (c) {
        case 'n':
            if (cli_parse_int_to(cmd, "--points", optarg, 1, 100000, &points) < 0)
                return CLI_USAGE;
            break;
        case 'l':
            if (cli_parse_int_to(cmd, "--layer", optarg, 0, 1 << 20, &layer) < 0)
                return CLI_USAGE;
            break;
        case 'j': json = 1; break;
        case OPT_CSV: csv = 1; break;
        case 'h': fputs(usage, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(cmd, optind < argc ? "give exactly one source" : "no source given: "
                               "give a trace (.h5) or a counts CSV (.csv)");
    if (json && csv)
        return cli_usage_error(cmd, "choose one of --json and --csv");
    const char *path = argv[optind];
    promoe_err err;
    access_counts counts;
    if ((is_csv(path) ? access_counts_from_csv(path, &counts, &err)
                      : access_counts_from_trace(path, &counts, &err)) < 0)
        return cli_fail(&err);
    int index = -1;
    char layer_name[16] = "mean";
    if (layer >= 0) {
        for (int l = 0; l < counts.num_layers; l++)
            if (counts.layer_id[l] == layer)
                index = l;
        if (index < 0) {
            promoe_err_set(&err, "%s has no layer %d (its layers: %d to %d, %d of them)", path,
                           layer, counts.layer_id[0], counts.layer_id[counts.num_layers - 1],
                           counts.num_layers);
            access_counts_free(&counts);
            return cli_fail(&err);
        }
        snprintf(layer_name, sizeof layer_name, "%d", layer);
    }
    if (csv)
        printf("source,layer,experts,experts_share,top_experts,access_share\n");
    if (!json && !csv)
        printf("%s: %d layers, %d experts; share of accesses taken by each layer's most\n"
               "frequent experts (%s)\n\n%8s %10s %12s\n", path, counts.num_layers,
               counts.num_experts, layer < 0 ? "mean over layers" : layer_name, "experts",
               "top", "accesses");
    for (int i = 1; i <= points; i++) {
        double x = (double)i / points;
        print_point(path, layer_name, counts.num_experts, x,
                    access_curve_share(&counts, index, x), json, csv);
    }
    access_counts_free(&counts);
    return CLI_OK;
}
