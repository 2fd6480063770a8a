#include "experiments/sweep.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct load_ctx {
    sweep_def *def;
    int quick;
    int quick_seen[SWEEP_MAX_AXES];
    promoe_err *err;
    int failed;
} load_ctx;

static char *trimmed_copy(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

static int find_axis(const sweep_def *def, const char *name)
{
    for (int a = 0; a < def->num_axes; a++)
        if (strcmp(def->axes[a].name, name) == 0)
            return a;
    return -1;
}

static int find_input(const sweep_def *def, const char *name, size_t n)
{
    for (int i = 0; i < def->num_inputs; i++)
        if (strlen(def->inputs[i].name) == n && strncmp(def->inputs[i].name, name, n) == 0)
            return i;
    return -1;
}

/* Fills axis ax's values from "a, b, c". */
static int parse_values(sweep_axis *ax, const char *value, promoe_err *err)
{
    for (int v = 0; v < ax->num_values; v++)
        free(ax->values[v]);
    ax->num_values = 0;
    const char *s = value;
    for (;;) {
        size_t n = strcspn(s, ",");
        if (ax->num_values == SWEEP_MAX_VALUES)
            return promoe_err_set(err, "axis %s: more than %d values", ax->name, SWEEP_MAX_VALUES);
        char *v = trimmed_copy(s, n);
        if (!v)
            return promoe_err_set(err, "out of memory");
        ax->values[ax->num_values++] = v;
        if (!v[0])
            return promoe_err_set(err, "axis %s: an empty value (two commas, or one at an end)",
                                  ax->name);
        for (const char *c = v; *c; c++)
            if (isspace((unsigned char)*c))
                return promoe_err_set(err, "axis %s: value '%s' holds a space, which commands "
                                      "cannot carry", ax->name, v);
        if (!s[n])
            return 0;
        s += n + 1;
    }
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

/* Placeholders with a meaning of their own. */
static int reserved(const char *name)
{
    return strcmp(name, "output") == 0 || strcmp(name, "here") == 0 ||
           strcmp(name, "shared") == 0;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
    load_ctx *c = user;
    sweep_def *d = c->def;
    if (c->failed)
        return 0;
    int rc = 0;
    if (strcmp(section, "sweep") == 0) {
        char **slot = strcmp(key, "run") == 0 ? &d->run
                      : strcmp(key, "description") == 0 ? &d->description : NULL;
        if (!slot)
            rc = promoe_err_set(c->err, "[sweep]: unknown key '%s' (keys: description, run)", key);
        else if (*slot)
            rc = promoe_err_set(c->err, "[sweep]: '%s' given twice", key);
        else if (!(*slot = strdup(value)))
            rc = promoe_err_set(c->err, "out of memory");
    } else if (strcmp(section, "grid") == 0) {
        if (!valid_name(key) || reserved(key))
            rc = promoe_err_set(c->err, "[grid]: '%s' cannot name an axis (letters, digits, "
                                "'-' and '_'; not 'output', 'here' or 'shared')", key);
        else if (find_axis(d, key) >= 0)
            rc = promoe_err_set(c->err, "[grid]: axis '%s' given twice", key);
        else if (d->num_axes == SWEEP_MAX_AXES)
            rc = promoe_err_set(c->err, "[grid]: more than %d axes", SWEEP_MAX_AXES);
        else {
            sweep_axis *ax = &d->axes[d->num_axes++];
            ax->name = strdup(key);
            rc = ax->name ? parse_values(ax, value, c->err) : promoe_err_set(c->err, "out of memory");
        }
    } else if (strcmp(section, "quick") == 0) {
        int a = find_axis(d, key);
        if (a < 0)
            rc = promoe_err_set(c->err, "[quick]: '%s' is not an axis of [grid] (put [quick] "
                                "after [grid])", key);
        else if (c->quick_seen[a]++)
            rc = promoe_err_set(c->err, "[quick]: axis '%s' given twice", key);
        else if (c->quick)
            rc = parse_values(&d->axes[a], value, c->err);
    } else if (strcmp(section, "inputs") == 0) {
        if (!valid_name(key) || reserved(key) || find_axis(d, key) >= 0)
            rc = promoe_err_set(c->err, "[inputs]: '%s' cannot name an input (letters, digits, "
                                "'-' and '_', not an axis, not 'output', 'here' or 'shared')",
                                key);
        else if (find_input(d, key, strlen(key)) >= 0)
            rc = promoe_err_set(c->err, "[inputs]: '%s' given twice", key);
        else if (d->num_inputs == SWEEP_MAX_INPUTS)
            rc = promoe_err_set(c->err, "[inputs]: more than %d inputs", SWEEP_MAX_INPUTS);
        else {
            sweep_input *in = &d->inputs[d->num_inputs++];
            in->name = strdup(key);
            in->command = strdup(value);
            if (!in->name || !in->command)
                rc = promoe_err_set(c->err, "out of memory");
        }
    } else {
        rc = promoe_err_set(c->err, "unknown section [%s] (sections: sweep, grid, quick, inputs)",
                            section);
    }
    if (rc < 0)
        c->failed = 1;
    return rc == 0;
}

const char *sweep_value(const sweep_def *def, long long p, int a)
{
    for (int b = def->num_axes - 1; b > a; b--)
        p /= def->axes[b].num_values;
    return def->axes[a].values[p % def->axes[a].num_values];
}

static int append(char *buf, size_t len, size_t *at, const char *s, size_t n, promoe_err *err)
{
    if (*at + n >= len)
        return promoe_err_set(err, "a command longer than %zu characters", len - 1);
    memcpy(buf + *at, s, n);
    *at += n;
    buf[*at] = '\0';
    return 0;
}

/* Expands template t for point p into buf: axes, inputs before `upto`, and
 * {output} when output is not NULL (left as it is otherwise).  An axis's
 * value may itself hold {here} and inputs (not axes): it is expanded too. */
static int expand(const sweep_def *def, long long p, const char *t, int upto, const char *output,
                  const char *inputs_dir, int in_value, char *buf, size_t len, promoe_err *err)
{
    size_t at = 0;
    buf[0] = '\0';
    while (*t) {
        const char *open = strchr(t, '{');
        if (!open)
            return append(buf, len, &at, t, strlen(t), err);
        if (append(buf, len, &at, t, (size_t)(open - t), err) < 0)
            return -1;
        const char *close = strchr(open, '}');
        if (!close)
            return promoe_err_set(err, "'{' without '}' in \"%s\"", t);
        const char *name = open + 1;
        size_t n = (size_t)(close - name);
        char key[64];
        if (n >= sizeof key)
            return promoe_err_set(err, "{%.*s}: name too long", (int)n, name);
        memcpy(key, name, n);
        key[n] = '\0';
        int a = find_axis(def, key), i = find_input(def, key, n);
        char path[4096];
        const char *value;
        if (in_value && a >= 0)
            return promoe_err_set(err, "{%s}: an axis's value cannot name an axis", key);
        if (strcmp(key, "output") == 0)
            value = output ? output : "{output}";
        else if (strcmp(key, "here") == 0)
            value = def->dir;
        else if (strcmp(key, "shared") == 0)
            value = def->shared;
        else if (a >= 0) {
            value = sweep_value(def, p, a);
            if (strchr(value, '{')) {
                if (expand(def, p, value, upto, output, inputs_dir, 1, path, sizeof path, err) < 0)
                    return -1;
                value = path;
            }
        }
        else if (i >= 0 && i < upto) {
            if (sweep_input_path(def, p, i, inputs_dir, path, sizeof path, NULL, 0, err) < 0)
                return -1;
            value = path;
        } else
            return promoe_err_set(err, "{%s}: no axis%s is called so", key,
                                  upto ? " or earlier input" : " or input");
        if (append(buf, len, &at, value, strlen(value), err) < 0)
            return -1;
        t = close + 1;
    }
    return 0;
}

int sweep_input_path(const sweep_def *def, long long p, int i, const char *inputs_dir,
                     char *path, size_t path_len, char *cmd, size_t cmd_len, promoe_err *err)
{
    char expanded[8192];
    if (expand(def, p, def->inputs[i].command, i, NULL, inputs_dir, 0, expanded,
               sizeof expanded, err) < 0)
        return promoe_err_prefix(err, "input %s", def->inputs[i].name);
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (const unsigned char *s = (const unsigned char *)expanded; *s; s++)
        h = (h ^ *s) * 0x100000001b3ULL;
    if (snprintf(path, path_len, "%s/%s-%016llx.h5", inputs_dir, def->inputs[i].name,
                 (unsigned long long)h) >= (int)path_len)
        return promoe_err_set(err, "input %s: path too long", def->inputs[i].name);
    if (cmd && expand(def, p, def->inputs[i].command, i, path, inputs_dir, 0, cmd, cmd_len,
                      err) < 0)
        return promoe_err_prefix(err, "input %s", def->inputs[i].name);
    return 0;
}

int sweep_run_command(const sweep_def *def, long long p, const char *inputs_dir, char *buf,
                      size_t len, promoe_err *err)
{
    if (expand(def, p, def->run, def->num_inputs, NULL, inputs_dir, 0, buf, len, err) < 0)
        return promoe_err_prefix(err, "run");
    if (strstr(def->run, "{output}"))
        return promoe_err_set(err, "run: {output} belongs in [inputs]; results are collected "
                              "from the command's --json output");
    return 0;
}

int sweep_point_key(const sweep_def *def, long long p, char *buf, size_t len, promoe_err *err)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int a = 0; a < def->num_axes; a++) {
        if ((a && append(buf, len, &at, " ", 1, err) < 0) ||
            append(buf, len, &at, def->axes[a].name, strlen(def->axes[a].name), err) < 0 ||
            append(buf, len, &at, "=", 1, err) < 0)
            return -1;
        const char *v = sweep_value(def, p, a);
        if (append(buf, len, &at, v, strlen(v), err) < 0)
            return -1;
    }
    return 0;
}

int sweep_split_args(char *buf, char **argv, int max, promoe_err *err)
{
    int argc = 0;
    for (char *save = NULL, *tok = strtok_r(buf, " \t\n", &save); tok;
         tok = strtok_r(NULL, " \t\n", &save)) {
        if (argc + 1 >= max)
            return promoe_err_set(err, "a command of more than %d words", max - 1);
        argv[argc++] = tok;
    }
    argv[argc] = NULL;
    return argc;
}

/* Expands point p's inputs and run command, to find what does not resolve. */
static int check_point(const sweep_def *def, long long p, promoe_err *err)
{
    char buf[8192], path[4096];
    for (int i = 0; i < def->num_inputs; i++)
        if (sweep_input_path(def, p, i, ".", path, sizeof path, buf, sizeof buf, err) < 0)
            return -1;
    return sweep_run_command(def, p, ".", buf, sizeof buf, err);
}

/* libinih cuts lines at INI_MAX_LINE and reads the rest as a line of its
 * own: find such a line first and say so, instead of a puzzling parse
 * error.  Returns 0, or -1 with *err set (a missing file is left to
 * ini_parse to report). */
static int check_line_lengths(const char *path, promoe_err *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len >= INI_MAX_LINE - 1)
            rc = promoe_err_set(err, "%s:%d: line of %zd characters; sweep files allow %d a line "
                                "(shorten the values, e.g. with an input or a placeholder)",
                                path, lineno, len, INI_MAX_LINE - 2);
    }
    free(line);
    fclose(fp);
    return rc;
}

int sweep_load(const char *path, int quick, sweep_def *def, promoe_err *err)
{
    *def = (sweep_def){0};
    if (check_line_lengths(path, err) < 0)
        return -1;
    load_ctx c = {.def = def, .quick = quick, .err = err};
    int rc = ini_parse(path, on_entry, &c);
    if (rc == -1) {
        promoe_err_set(err, "%s: cannot open the sweep file", path);
        goto fail;
    }
    if (rc != 0) {
        if (c.failed)
            promoe_err_prefix(err, "%s:%d", path, rc);
        else
            promoe_err_set(err, "%s:%d: not an INI line (expected [section] or key = value)",
                           path, rc);
        goto fail;
    }
    if (!def->run) {
        promoe_err_set(err, "%s: no 'run' command in [sweep]", path);
        goto fail;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 6 && strcmp(base + n - 6, ".sweep") == 0)
        n -= 6;
    def->path = strdup(path);
    def->name = strndup(base, n);
    char *folder = strndup(path, (size_t)(base - path));
    def->dir = folder ? realpath(*folder ? folder : ".", NULL) : NULL;
    free(folder);
    if (!def->path || !def->name || !def->dir) {
        promoe_err_set(err, "%s: cannot find its folder (%s)", path, strerror(errno));
        goto fail;
    }
    const char *shared = getenv("PROMOE_SHARED_DATA");
    if (shared && *shared ? !(def->shared = strdup(shared))
                          : asprintf(&def->shared, "%s/../../shared/data", def->dir) < 0) {
        def->shared = NULL;
        promoe_err_set(err, "out of memory");
        goto fail;
    }
    def->num_points = 1;
    for (int a = 0; a < def->num_axes; a++)
        def->num_points *= def->axes[a].num_values;
    for (int i = 0; i < def->num_inputs; i++)
        if (!strstr(def->inputs[i].command, "{output}")) {
            promoe_err_set(err, "input %s: its command must write {output}", def->inputs[i].name);
            goto prefix;
        }
    /* every placeholder must resolve: expand everything for point 0, and
     * for a point holding each axis value with placeholders of its own */
    if (check_point(def, 0, err) < 0)
        goto prefix;
    long long stride = def->num_points;
    for (int a = 0; a < def->num_axes; a++) {
        stride /= def->axes[a].num_values;
        for (int v = 0; v < def->axes[a].num_values; v++)
            if (strchr(def->axes[a].values[v], '{') && check_point(def, v * stride, err) < 0)
                goto prefix;
    }
    return 0;
prefix:
    promoe_err_prefix(err, "%s", path);
fail:
    sweep_free(def);
    return -1;
}

void sweep_free(sweep_def *def)
{
    for (int a = 0; a < def->num_axes; a++) {
        free(def->axes[a].name);
        for (int v = 0; v < def->axes[a].num_values; v++)
            free(def->axes[a].values[v]);
    }
    for (int i = 0; i < def->num_inputs; i++) {
        free(def->inputs[i].name);
        free(def->inputs[i].command);
    }
    free(def->path);
    free(def->dir);
    free(def->shared);
    free(def->name);
    free(def->description);
    free(def->run);
    *def = (sweep_def){0};
}
