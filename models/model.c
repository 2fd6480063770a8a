#include "models/model.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Every key of a preset, where it goes, and its allowed range. */
static const struct model_key {
    const char *key;
    size_t offset;
    int lo, hi;
    int required;
} model_keys[] = {
    {"num_layers", offsetof(model_desc, num_layers), 1, 1024, 1},
    {"num_experts", offsetof(model_desc, num_experts), 1, 32767, 1},
    {"top_k", offsetof(model_desc, top_k), 1, 256, 1},
    {"hidden_size", offsetof(model_desc, hidden_size), 1, 1 << 20, 1},
    {"expert_ffn_dim", offsetof(model_desc, expert_ffn_dim), 1, 1 << 20, 1},
    {"num_shared_experts", offsetof(model_desc, num_shared_experts), 0, 64, 0},
    {"shared_ffn_dim", offsetof(model_desc, shared_ffn_dim), 0, 1 << 20, 0},
    {"num_heads", offsetof(model_desc, num_heads), 1, 4096, 1},
    {"num_kv_heads", offsetof(model_desc, num_kv_heads), 1, 4096, 1},
    {"head_dim", offsetof(model_desc, head_dim), 1, 4096, 1},
    {"vocab_size", offsetof(model_desc, vocab_size), 1, 1 << 24, 1},
    {"bits_per_weight", offsetof(model_desc, bits_per_weight), 2, 32, 1},
    {"norm_topk_prob", offsetof(model_desc, norm_topk_prob), 0, 1, 1},
};
#define NUM_KEYS (sizeof model_keys / sizeof model_keys[0])

struct parse_state {
    model_desc *m;
    int seen[NUM_KEYS];
    char problem[256];
};

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
    struct parse_state *st = user;
    if (strcmp(section, "model") != 0) {
        snprintf(st->problem, sizeof st->problem, "unknown section [%s] (expected [model])", section);
        return 0;
    }
    if (strcmp(key, "name") == 0) {
        snprintf(st->m->name, sizeof st->m->name, "%s", value);
        return 1;
    }
    for (size_t i = 0; i < NUM_KEYS; i++) {
        const struct model_key *k = &model_keys[i];
        if (strcmp(key, k->key) != 0)
            continue;
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < k->lo || v > k->hi) {
            snprintf(st->problem, sizeof st->problem, "%s = '%s' is not an integer in [%d, %d]",
                     key, value, k->lo, k->hi);
            return 0;
        }
        *(int *)((char *)st->m + k->offset) = (int)v;
        st->seen[i] = 1;
        return 1;
    }
    snprintf(st->problem, sizeof st->problem, "unknown key '%s'", key);
    return 0;
}

static int load_file(const char *path, model_desc *m, promoe_err *err)
{
    struct parse_state st = {.m = m};
    memset(m, 0, sizeof *m);
    int rc = ini_parse(path, on_entry, &st);
    if (rc < 0)
        return promoe_err_set(err, "%s: cannot open model preset: %s", path, strerror(errno));
    if (rc > 0)
        return promoe_err_set(err, "%s:%d: %s", path, rc,
                              st.problem[0] ? st.problem : "syntax error");
    for (size_t i = 0; i < NUM_KEYS; i++)
        if (model_keys[i].required && !st.seen[i])
            return promoe_err_set(err, "%s: missing key '%s' in [model]", path, model_keys[i].key);
    if (!m->name[0])
        return promoe_err_set(err, "%s: missing key 'name' in [model]", path);
    if (m->top_k > m->num_experts)
        return promoe_err_set(err, "%s: top_k %d exceeds num_experts %d", path, m->top_k,
                              m->num_experts);
    if (m->num_shared_experts > 0 && m->shared_ffn_dim < 1)
        return promoe_err_set(err, "%s: shared experts need shared_ffn_dim", path);
    return 0;
}

/* The folders searched for presets, in order; NULL entries are skipped. */
static void preset_dirs(const char *dirs[3], char *env_buf, size_t len)
{
    const char *env = getenv("PROMOE_DATADIR");
    dirs[0] = NULL;
    if (env && *env) {
        snprintf(env_buf, len, "%s/models", env);
        dirs[0] = env_buf;
    }
    dirs[1] = PROMOE_SRC_PRESETS;
    dirs[2] = PROMOE_INSTALLED_PRESETS;
}

int model_load(const char *name_or_path, model_desc *m, promoe_err *err)
{
    if (strchr(name_or_path, '/') || strstr(name_or_path, ".ini"))
        return load_file(name_or_path, m, err);
    char env_buf[PATH_MAX], path[PATH_MAX + MODEL_NAME_MAX + 8];
    const char *dirs[3];
    preset_dirs(dirs, env_buf, sizeof env_buf);
    for (int i = 0; i < 3; i++) {
        if (!dirs[i])
            continue;
        snprintf(path, sizeof path, "%s/%s.ini", dirs[i], name_or_path);
        struct stat st;
        if (stat(path, &st) == 0)
            return load_file(path, m, err);
    }
    char known[1024];
    model_list_presets(known, sizeof known);
    return promoe_err_set(err, "unknown model '%s' (presets: %s; or give a path to an .ini file)",
                          name_or_path, known[0] ? known : "none found");
}

size_t model_expert_bytes(const model_desc *m)
{
    size_t params = 3 * (size_t)m->hidden_size * (size_t)m->expert_ffn_dim;
    return params * (size_t)m->bits_per_weight / 8;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void model_list_presets(char *buf, size_t len)
{
    char env_buf[PATH_MAX];
    const char *dirs[3];
    preset_dirs(dirs, env_buf, sizeof env_buf);
    buf[0] = '\0';
    for (int i = 0; i < 3; i++) {
        DIR *d = dirs[i] ? opendir(dirs[i]) : NULL;
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
