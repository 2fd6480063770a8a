#include "cli/report.h"

#include <math.h>
#include <stdio.h>

#include "cli/cli.h"
#include "common/csv.h"

void report_name(report *r, const char *key, const char *value)
{
    r->names[r->num_names][0] = key;
    r->names[r->num_names++][1] = value;
}

void report_fig(report *r, const char *key, const char *label, double value, int integer)
{
    r->f[r->n++] = (report_figure){key, label, value, integer};
}

void report_counts(report *r, const offload_counts *n)
{
    offload_rates rate = offload_counts_rates(n);
    report_fig(r, "demands", "expert demands", (double)n->demands, 1);
    report_fig(r, "hits", "hits", (double)n->hits, 1);
    report_fig(r, "late_hits", "late hits", (double)n->late_hits, 1);
    report_fig(r, "misses", "misses", (double)n->misses, 1);
    report_fig(r, "hit_rate", "hit rate", rate.hit_rate, 0);
    report_fig(r, "prefill_hit_rate", "hit rate, prefill steps", rate.prefill_hit_rate, 0);
    report_fig(r, "decode_hit_rate", "hit rate, decode steps", rate.decode_hit_rate, 0);
    report_fig(r, "cpu_computed", "misses computed on CPU", (double)n->cpu_computed, 1);
    report_fig(r, "evictions", "evictions", (double)n->evictions, 1);
    report_fig(r, "lowbit_loads", "low-precision loads", (double)n->lowbit_loads, 1);
    report_fig(r, "lowbit_share", "expert work in low precision", rate.lowbit_share, 0);
    report_fig(r, "prefetch_issued", "prefetches issued", (double)n->prefetch_issued, 1);
    report_fig(r, "prefetch_useful", "prefetches useful", (double)n->prefetch_useful, 1);
    report_fig(r, "prefetch_wasted", "prefetches wasted", (double)n->prefetch_wasted, 1);
    report_fig(r, "prefetch_late", "prefetches late", (double)n->prefetch_late, 1);
    report_fig(r, "prefetch_dropped", "prefetches dropped", (double)n->prefetch_dropped, 1);
    report_fig(r, "prefetch_declined", "prefetches declined", (double)n->prefetch_declined, 1);
    report_fig(r, "prefetch_accuracy", "prefetch accuracy", rate.prefetch_accuracy, 0);
    report_fig(r, "prefetch_fetch_rate", "prefetch fetch rate", rate.prefetch_fetch_rate, 0);
    report_fig(r, "goodpred", "GoodPred", rate.goodpred, 0);
}

json_t *report_json(const report *r)
{
    json_t *o = json_object();
    for (int i = 0; i < r->num_names; i++)
        json_object_set_new(o, r->names[i][0], json_string(r->names[i][1]));
    for (int i = 0; i < r->n; i++)
        json_object_set_new(o, r->f[i].key, r->f[i].integer
                            ? json_integer((json_int_t)llround(r->f[i].value))
                            : json_real(r->f[i].value));
    return o;
}

void report_print(const report *r, int json, int csv)
{
    if (json) {
        cli_print_json(report_json(r), 10);
        return;
    }
    if (csv) {
        for (int i = 0; i < r->num_names; i++)
            printf("%s%s", i ? "," : "", r->names[i][0]);
        for (int i = 0; i < r->n; i++)
            printf(",%s", r->f[i].key);
        putchar('\n');
        for (int i = 0; i < r->num_names; i++) {
            if (i)
                putchar(',');
            csv_write_field(stdout, r->names[i][1]);
        }
        for (int i = 0; i < r->n; i++)
            printf(r->f[i].integer ? ",%.0f" : ",%.10g", r->f[i].value);
        putchar('\n');
        return;
    }
    for (int i = 0; i < r->num_names; i++)
        printf("%-26s %s\n", r->names[i][0], r->names[i][1]);
    for (int i = 0; i < r->n; i++) {
        if (r->f[i].integer)
            printf("%-26s %.0f\n", r->f[i].label, r->f[i].value);
        else
            printf("%-26s %.4f\n", r->f[i].label, r->f[i].value);
    }
}
