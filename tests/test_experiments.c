/* test_experiments.c - sweep files, the results journal and the summary's
 * confidence intervals, against values worked out by hand. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiments/results.h"
#include "experiments/summary.h"
#include "experiments/sweep.h"
#include "tests/testutil.h"

static void load_error(const char *text, const char *want);

static const char grid_sweep[] =
    "[sweep]\n"
    "description = a test\n"
    "run = sim --trace {trace} --system {system} --cache {cache}\n"
    "[grid]\n"
    "system = reactive-lru, promoe\n"
    "cache = 0.25, 0.5 ,0.75\n"
    "seed = 1, 2\n"
    "[quick]\n"
    "cache = 0.5\n"
    "[inputs]\n"
    "trace = trace gen --seed {seed} -o {output}\n";

START_TEST(test_grid_expands_last_axis_fastest)
{
    sweep_def d;
    promoe_err err;
    ck_assert_int_eq(sweep_load(tu_write_file("grid.sweep", grid_sweep), 0, &d, &err), 0);
    ck_assert_str_eq(d.name, "grid");
    ck_assert_int_eq(d.num_axes, 3);
    ck_assert_int_eq(d.num_points, 2 * 3 * 2);
    /* point 7 = system 1, cache (7 / 2) % 3 = 0, seed 7 % 2 = 1 */
    ck_assert_str_eq(sweep_value(&d, 7, 0), "promoe");
    ck_assert_str_eq(sweep_value(&d, 7, 1), "0.25");
    ck_assert_str_eq(sweep_value(&d, 7, 2), "2");
    char key[256], cmd[1024], path[1024], path2[1024];
    ck_assert_int_eq(sweep_point_key(&d, 7, key, sizeof key, &err), 0);
    ck_assert_str_eq(key, "system=promoe cache=0.25 seed=2");
    ck_assert_int_eq(sweep_input_path(&d, 7, 0, "IN", path, sizeof path, NULL, 0, &err), 0);
    ck_assert(strncmp(path, "IN/trace-", 9) == 0);
    ck_assert_int_eq((int)strlen(path), 9 + 16 + 3); /* IN/trace-HASH.h5, 64-bit hex */
    /* the same seed shares the input; another seed does not */
    ck_assert_int_eq(sweep_input_path(&d, 1, 0, "IN", path2, sizeof path2, NULL, 0, &err), 0);
    ck_assert_str_eq(path, path2);
    ck_assert_int_eq(sweep_input_path(&d, 0, 0, "IN", path2, sizeof path2, NULL, 0, &err), 0);
    ck_assert_str_ne(path, path2);
    ck_assert_int_eq(sweep_run_command(&d, 7, "IN", cmd, sizeof cmd, &err), 0);
    char want[1200];
    snprintf(want, sizeof want, "sim --trace %s --system promoe --cache 0.25", path);
    ck_assert_str_eq(cmd, want);
    char *argv[16];
    ck_assert_int_eq(sweep_split_args(cmd, argv, 16, &err), 7);
    ck_assert_str_eq(argv[6], "0.25");
    ck_assert_ptr_null(argv[7]);
    sweep_free(&d);

    ck_assert_int_eq(sweep_load(tu_path("grid.sweep"), 1, &d, &err), 0);
    ck_assert_int_eq(d.num_points, 2 * 1 * 2);
    ck_assert_str_eq(sweep_value(&d, 3, 1), "0.5");
    sweep_free(&d);
}
END_TEST

START_TEST(test_input_command_gets_its_output_path)
{
    sweep_def d;
    promoe_err err;
    ck_assert_int_eq(sweep_load(tu_write_file("grid.sweep", grid_sweep), 0, &d, &err), 0);
    char path[1024], cmd[1024];
    ck_assert_int_eq(sweep_input_path(&d, 0, 0, "IN", path, sizeof path, cmd, sizeof cmd, &err),
                     0);
    char want[1200];
    snprintf(want, sizeof want, "trace gen --seed 1 -o %s", path);
    ck_assert_str_eq(cmd, want);
    sweep_free(&d);
}
END_TEST

START_TEST(test_here_is_the_sweep_files_folder)
{
    sweep_def d;
    promoe_err err;
    ck_assert_int_eq(sweep_load(tu_write_file("here.sweep", "[sweep]\nrun = sim -s {here}/x.ini "
                                              "{a}\n[grid]\na = 1\n"), 0, &d, &err), 0);
    char cmd[4096], want[4096];
    ck_assert_int_eq(sweep_run_command(&d, 0, "IN", cmd, sizeof cmd, &err), 0);
    char *dir = realpath(tu_dir(), NULL);
    snprintf(want, sizeof want, "sim -s %s/x.ini 1", dir);
    free(dir);
    ck_assert_str_eq(cmd, want);
    sweep_free(&d);
    load_error("[sweep]\nrun = sim {here}\n[grid]\nhere = 1\n", "cannot name an axis");
    /* {shared}: $PROMOE_SHARED_DATA when set */
    setenv("PROMOE_SHARED_DATA", "/data/x", 1);
    ck_assert_int_eq(sweep_load(tu_write_file("s.sweep", "[sweep]\nrun = sim {shared}/t\n"), 0, &d,
                                &err), 0);
    ck_assert_int_eq(sweep_run_command(&d, 0, "IN", cmd, sizeof cmd, &err), 0);
    ck_assert_str_eq(cmd, "sim /data/x/t");
    sweep_free(&d);
    /* an axis value may hold {here} and inputs, checked for every value */
    ck_assert_int_eq(sweep_load(tu_write_file("v.sweep", "[sweep]\nrun = sim {p}\n[grid]\n"
                                              "p = a, b:t={t}\n[inputs]\nt = gen -o {output}\n"),
                                0, &d, &err), 0);
    char path[1024];
    ck_assert_int_eq(sweep_input_path(&d, 1, 0, "IN", path, sizeof path, NULL, 0, &err), 0);
    ck_assert_int_eq(sweep_run_command(&d, 1, "IN", cmd, sizeof cmd, &err), 0);
    snprintf(want, sizeof want, "sim b:t=%s", path);
    ck_assert_str_eq(cmd, want);
    sweep_free(&d);
    load_error("[sweep]\nrun = sim {p}\n[grid]\np = a, b:{nope}\n", "nope");
    load_error("[sweep]\nrun = sim {p}\n[grid]\np = a, b:{q}\nq = 1\n", "cannot name an axis");
}
END_TEST

/* load_error(TEXT, WANT): loading TEXT fails with a message holding WANT */
static void load_error(const char *text, const char *want)
{
    sweep_def d;
    promoe_err err;
    ck_assert_int_eq(sweep_load(tu_write_file("bad.sweep", text), 0, &d, &err), -1);
    ck_assert_msg(strstr(err.msg, want), "'%s' not in '%s'", want, err.msg);
}

START_TEST(test_bad_sweeps_are_refused)
{
    load_error("[grid]\na = 1\n", "run");
    load_error("[sweep]\nrun = sim {nope}\n[grid]\na = 1\n", "nope");
    load_error("[sweep]\nrun = sim {a}\n[grid]\na = 1,,2\n", "empty");
    load_error("[sweep]\nrun = sim {a}\n[grid]\na = 1\n[other]\nx = 1\n", "other");
    load_error("[sweep]\nrun = sim {a}\n[grid]\na = 1\n[quick]\nb = 1\n", "b");
    load_error("[sweep]\nrun = sim {a\n[grid]\na = 1\n", "{");
    load_error("[sweep]\nrun = sim {a}\n[grid]\na = 1\nthis is not ini\n", "bad.sweep:5");
    /* a line libinih would cut (198 characters is the most it reads whole) */
    char long_line[512];
    snprintf(long_line, sizeof long_line, "[sweep]\nrun = sim {a}\n[grid]\na = %0195d\n", 1);
    load_error(long_line, "bad.sweep:4: line of 199 characters; sweep files allow 198 a line");
    snprintf(long_line, sizeof long_line, "[sweep]\nrun = sim {a}\n[grid]\na = %0194d\n", 1);
    sweep_def ok;
    promoe_err ok_err;
    ck_assert_int_eq(sweep_load(tu_write_file("ok.sweep", long_line), 0, &ok, &ok_err), 0);
    ck_assert_int_eq((int)strlen(ok.axes[0].values[0]), 194);
    sweep_free(&ok);
    sweep_def d;
    promoe_err err;
    ck_assert_int_eq(sweep_load(tu_path("absent.sweep"), 0, &d, &err), -1);
    ck_assert(strstr(err.msg, "absent.sweep"));
}
END_TEST

/* The journal: two runs of one point, a failed point, and an unfinished
 * line left by a killed writer. */
START_TEST(test_journal_keeps_latest_complete_run)
{
    const char *path = tu_write_file(
        "j.jsonl",
        "{\"point\":\"a=1\",\"row\":0,\"rows\":1,\"status\":\"failed\",\"error\":\"x\",\"a\":\"1\"}\n"
        "{\"point\":\"a=2\",\"row\":0,\"rows\":2,\"status\":\"ok\",\"a\":\"2\",\"t\":4}\n"
        "{\"point\":\"a=2\",\"row\":1,\"rows\":2,\"status\":\"ok\",\"a\":\"2\",\"t\":5}\n"
        "{\"point\":\"a=1\",\"row\":0,\"rows\":1,\"status\":\"ok\",\"a\":\"1\",\"t\":3}\n"
        "{\"point\":\"a=3\",\"row\":0,\"rows\":2,\"status\":\"ok\",\"a\":\"3\",\"t\":9}\n"
        "{\"point\":\"a=4\",\"row\":0,\"rows\":1,\"sta");
    results r;
    promoe_err err;
    ck_assert_int_eq(results_load(path, &r, &err), 0);
    ck_assert_int_eq(results_status(&r, "a=1"), RESULTS_OK);
    ck_assert_int_eq(results_status(&r, "a=2"), RESULTS_OK);
    ck_assert_int_eq(results_status(&r, "a=3"), RESULTS_NONE); /* 1 of its 2 rows */
    ck_assert_int_eq(results_status(&r, "a=4"), RESULTS_NONE);
    /* a reader leaves the file alone; the writer cuts the unfinished line */
    FILE *fp = fopen(path, "r");
    fseek(fp, 0, SEEK_END);
    long before = ftell(fp);
    fclose(fp);
    ck_assert_int_eq(results_cut_unfinished(path, &err), 0);
    fp = fopen(path, "r");
    fseek(fp, 0, SEEK_END);
    ck_assert_int_eq(ftell(fp), before - (long)strlen("{\"point\":\"a=4\",\"row\":0,\"rows\":1,\"sta"));
    fclose(fp);
    json_t *rows = json_pack("[{s:s,s:i,s:i,s:s,s:s,s:i}]", "point", "a=5", "row", 0, "rows", 1,
                             "status", "ok", "a", "5", "t", 7);
    ck_assert_int_eq(results_append(path, rows, &err), 0);
    json_decref(rows);
    results_free(&r);
    ck_assert_int_eq(results_load(path, &r, &err), 0);
    ck_assert_int_eq(results_status(&r, "a=5"), RESULTS_OK);
    ck_assert_int_eq(results_write_csv(&r, tu_path("j.csv"), &err), 4);
    results_free(&r);
    fp = fopen(tu_path("j.csv"), "r");
    char line[512];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    /* first-seen order, no row/rows; no "error": only the replaced run had one */
    ck_assert_str_eq(line, "point,status,a,t\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_str_eq(line, "a=1,ok,1,3\n"); /* the later run replaced the failure */
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_str_eq(line, "a=2,ok,2,4\n");
    fclose(fp);
    ck_assert(!tu_leftover_tmp());
}
END_TEST

START_TEST(test_journal_refuses_a_foreign_line)
{
    results r;
    promoe_err err;
    const char *path = tu_write_file("bad.jsonl",
                                     "{\"point\":\"a=1\",\"row\":0,\"rows\":1,\"status\":\"ok\"}\n"
                                     "{\"hello\":1}\n");
    ck_assert_int_eq(results_load(path, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "bad.jsonl:2: not a results row"), "%s", err.msg);
}
END_TEST

static void add_row(results *r, const char *sys, const char *seed, double t)
{
    char key[64];
    snprintf(key, sizeof key, "system=%s seed=%s", sys, seed);
    json_t *rows = json_pack("[{s:s,s:i,s:i,s:s,s:s,s:s,s:f}]", "point", key, "row", 0, "rows", 1,
                             "status", "ok", "system", sys, "seed", seed, "t", t);
    results_add(r, rows);
    json_decref(rows);
}

/* Three seeds: t = 2, 4, 6 for b; mean 4, sd 2, and t(0.975, 2) = 4.302653
 * (tables), so the 95% interval is 4 +- 4.302653 * 2 / sqrt(3) = 4 +-
 * 4.968275.  Speedups of b over a (a: t = 4, 4, 12): 2, 1, 2. */
START_TEST(test_summary_interval_and_speedup)
{
    results r;
    promoe_err err;
    ck_assert_int_eq(results_load(tu_path("none.jsonl"), &r, &err), 0);
    add_row(&r, "a", "1", 4);
    add_row(&r, "a", "2", 4);
    add_row(&r, "a", "3", 12);
    add_row(&r, "b", "1", 2);
    add_row(&r, "b", "2", 4);
    add_row(&r, "b", "3", 6);
    summary s;
    summary_opts o = {.metric = "t", .by = {"system"}, .num_by = 1, .level = 0.95};
    ck_assert_int_eq(summary_compute(&r, &o, &s, &err), 0);
    ck_assert_int_eq(s.num_groups, 2);
    ck_assert_str_eq(s.groups[1].values[0], "b");
    ck_assert_int_eq(s.groups[1].n, 3);
    ck_assert_double_eq_tol(s.groups[1].mean, 4.0, 1e-12);
    ck_assert_double_eq_tol(s.groups[1].sd, 2.0, 1e-12);
    ck_assert_double_eq_tol(s.groups[1].lo, 4.0 - 4.968275, 1e-5);
    ck_assert_double_eq_tol(s.groups[1].hi, 4.0 + 4.968275, 1e-5);
    summary_free(&s);

    o.baseline = "system=a";
    ck_assert_int_eq(summary_compute(&r, &o, &s, &err), 0);
    ck_assert_double_eq_tol(s.groups[0].mean, 1.0, 1e-12);
    ck_assert_double_eq_tol(s.groups[0].sd, 0.0, 1e-12);
    ck_assert_double_eq_tol(s.groups[1].mean, 5.0 / 3.0, 1e-12);
    /* sd of 2, 1, 2 = sqrt(1/3) */
    ck_assert_double_eq_tol(s.groups[1].sd, sqrt(1.0 / 3.0), 1e-12);
    summary_free(&s);

    o.baseline = NULL;
    o.where[0] = "seed=3";
    o.num_where = 1;
    ck_assert_int_eq(summary_compute(&r, &o, &s, &err), 0);
    ck_assert_int_eq(s.groups[0].n, 1);
    ck_assert_double_eq_tol(s.groups[0].mean, 12.0, 1e-12);
    ck_assert_double_eq_tol(s.groups[0].lo, 12.0, 1e-12); /* one row: no interval */
    summary_free(&s);

    /* numbers sort numerically (10 after 9), other values as first seen */
    add_row(&r, "c", "10", 1);
    add_row(&r, "c", "9", 1);
    o.num_where = 0;
    o.by[0] = "seed";
    o.by[1] = "system";
    o.num_by = 2;
    ck_assert_int_eq(summary_compute(&r, &o, &s, &err), 0);
    ck_assert_int_eq(s.num_groups, 8);
    const char *order[][2] = {{"1", "a"}, {"1", "b"}, {"2", "a"}, {"2", "b"},
                              {"3", "a"}, {"3", "b"}, {"9", "c"}, {"10", "c"}};
    for (int g = 0; g < 8; g++) {
        ck_assert_str_eq(s.groups[g].values[0], order[g][0]);
        ck_assert_str_eq(s.groups[g].values[1], order[g][1]);
    }
    summary_free(&s);
    o.num_by = 1;
    o.by[0] = "system";

    o.metric = "nope";
    ck_assert_int_eq(summary_compute(&r, &o, &s, &err), -1);
    ck_assert(strstr(err.msg, "nope"));
    o.metric = "t";
    o.baseline = "model=x";
    ck_assert_int_eq(summary_compute(&r, &o, &s, &err), -1);
    ck_assert(strstr(err.msg, "no axis 'model'"));
    results_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("experiments");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_grid_expands_last_axis_fastest);
    tcase_add_test(tc, test_input_command_gets_its_output_path);
    tcase_add_test(tc, test_here_is_the_sweep_files_folder);
    tcase_add_test(tc, test_bad_sweeps_are_refused);
    tcase_add_test(tc, test_journal_keeps_latest_complete_run);
    tcase_add_test(tc, test_journal_refuses_a_foreign_line);
    tcase_add_test(tc, test_summary_interval_and_speedup);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
