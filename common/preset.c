#include "common/preset.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Sets one key of *out from text; writes a message into problem on error. */
static int assign(const preset_kind *kind, const char *key, const char *value, void *out,
                  char *problem, size_t len)
{
    for (size_t i = 0; i < kind->num_keys; i++) {
        const preset_key *k = &kind->keys[i];
        if (strcmp(key, k->key) != 0)
            continue;
        char *dst = (char *)out + k->offset;
        if (k->type == PRESET_STRING) {
            if (strlen(value) >= k->size) {
                snprintf(problem, len, "%s: '%s' is longer than %zu characters", key, value,
                         k->size - 1);
                return -1;
            }
            snprintf(dst, k->size, "%s", value);
            return (int)i;
        }
        char *end;
        errno = 0;
        double v = k->type == PRESET_INT ? (double)strtoll(value, &end, 10) : strtod(value, &end);
        if (errno || end == value || *end || !(v >= k->lo && v <= k->hi)) {
            if (k->type == PRESET_INT)
                snprintf(problem, len, "%s = '%s' is not an integer in [%.0f, %.0f]", key,
                         value, k->lo, k->hi);
            else
                snprintf(problem, len, "%s = '%s' is not a number in [%g, %g]", key, value,
                         k->lo, k->hi);
            return -1;
        }
        if (k->type == PRESET_INT)
            *(int *)dst = (int)v;
        else
            *(double *)dst = v;
        return (int)i;
    }
    char known[512] = "";
    for (size_t i = 0; i < kind->num_keys; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 kind->keys[i].key);
    snprintf(problem, len, "unknown key '%s' (keys: %s)", key, known);
    return -1;
}

struct parse_state {
    const preset_kind *kind;
    void *out;
    unsigned char seen[64];
    char problem[768];
};

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
    struct parse_state *st = user;
    if (strcmp(section, st->kind->section) != 0) {
        snprintf(st->problem, sizeof st->problem, "unknown section [%s] (expected [%s])", section,
                 st->kind->section);
        return 0;
    }
    int i = assign(st->kind, key, value, st->out, st->problem, sizeof st->problem);
    if (i < 0)
        return 0;
    st->seen[i] = 1;
    return 1;
}

static int load_file(const preset_kind *kind, const char *path, void *out, promoe_err *err)
{
    struct parse_state st = {.kind = kind, .out = out};
    int rc = ini_parse(path, on_entry, &st);
    if (rc < 0)
        return promoe_err_set(err, "%s: cannot open preset: %s", path, strerror(errno));
    if (rc > 0)
        return promoe_err_set(err, "%s:%d: %s", path, rc, st.problem[0] ? st.problem : "syntax error");
    for (size_t i = 0; i < kind->num_keys; i++)
        if (kind->keys[i].required && !st.seen[i])
            return promoe_err_set(err, "%s: missing key '%s' in [%s]", path, kind->keys[i].key,
                                  kind->section);
    return 0;
}

/* The folders searched, in order; unset entries are NULL. */
static void search_dirs(const preset_kind *kind, char dirs[3][PATH_MAX])
{
    const char *env = getenv("PROMOE_DATADIR");
    dirs[0][0] = '\0';
    if (env && *env)
        snprintf(dirs[0], PATH_MAX, "%s/%s", env, kind->folder);
    snprintf(dirs[1], PATH_MAX, "%s/%s", PROMOE_SRC_DATADIR, kind->folder);
    snprintf(dirs[2], PATH_MAX, "%s/%s", PROMOE_INSTALLED_DATADIR, kind->folder);
}

int preset_load(const preset_kind *kind, const char *name_or_path, void *out, promoe_err *err)
{
    if (kind->num_keys > sizeof ((struct parse_state *)0)->seen)
        return promoe_err_set(err, "internal: too many preset keys");
    if (strchr(name_or_path, '/') || strstr(name_or_path, ".ini"))
        return load_file(kind, name_or_path, out, err);
    char dirs[3][PATH_MAX], path[PATH_MAX + 128];
    search_dirs(kind, dirs);
    for (int i = 0; i < 3; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.ini", dirs[i], name_or_path);
        if (dirs[i][0] && stat(path, &st) == 0)
            return load_file(kind, path, out, err);
    }
    char known[1024];
    preset_list(kind, known, sizeof known);
    promoe_err_set(err, "unknown %s '%s' (presets: %s; or give a path to an .ini file)",
                   kind->section, name_or_path, known[0] ? known : "none found");
    return PRESET_UNKNOWN;
}

int preset_assign(const preset_kind *kind, const char *key, const char *value, void *out,
                  promoe_err *err)
{
    char problem[768];
    if (assign(kind, key, value, out, problem, sizeof problem) < 0)
        return promoe_err_set(err, "%s", problem);
    return 0;
}

int preset_set(const preset_kind *kind, const char *assignment, void *out, promoe_err *err)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return promoe_err_set(err, "--set '%s': expected KEY=VALUE", assignment);
    char key[128], problem[768];
    snprintf(key, sizeof key, "%.*s", (int)(eq - assignment), assignment);
    if (assign(kind, key, eq + 1, out, problem, sizeof problem) < 0)
        return promoe_err_set(err, "--set %s", problem);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void preset_list(const preset_kind *kind, char *buf, size_t len)
{
    char dirs[3][PATH_MAX];
    search_dirs(kind, dirs);
    buf[0] = '\0';
    for (int i = 0; i < 3; i++) {
        DIR *d = dirs[i][0] ? opendir(dirs[i]) : NULL;
        if (!d)
            continue;
        char *names[256];
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < 256) {
            size_t l = strlen(e->d_name);
            if (l > 4 && strcmp(e->d_name + l - 4, ".ini") == 0)
                names[n++] = strndup(e->d_name, l - 4);
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_str);
        size_t used = 0;
        for (size_t j = 0; j < n; j++) {
            if (names[j] && used + strlen(names[j]) + 3 < len)
                used += (size_t)snprintf(buf + used, len - used, "%s%s", j ? ", " : "", names[j]);
            free(names[j]);
        }
        if (n)
            return; /* the first folder with presets is the one used */
    }
}
