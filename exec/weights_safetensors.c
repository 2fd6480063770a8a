/* weights_safetensors.c - a model's weights from (and to) safetensors files
 * named as Hugging Face checkpoints name them (see weights_safetensors.h). */
#include "exec/weights_safetensors.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/safetensors.h"

#define MAX_SHARDS 256

/* The files of a checkpoint: one path, or every *.safetensors of a folder. */
typedef struct checkpoint {
    st_file files[MAX_SHARDS];
    int count;
    const char *where;
} checkpoint;

static void checkpoint_close(checkpoint *c)
{
    for (int i = 0; i < c->count; i++)
        st_close(&c->files[i]);
    c->count = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int checkpoint_open(checkpoint *c, const char *path, promoe_err *err)
{
    c->count = 0;
    c->where = path;
    struct stat st;
    if (stat(path, &st) != 0)
        return promoe_err_set(err, "%s: no such file or folder", path);
    if (!S_ISDIR(st.st_mode)) {
        if (st_open(path, &c->files[0], err) < 0)
            return -1;
        c->count = 1;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return promoe_err_set(err, "%s: cannot read the folder", path);
    char *names[MAX_SHARDS];
    int n = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) && rc == 0) {
        size_t len = strlen(e->d_name);
        if (len < 12 || strcmp(e->d_name + len - 12, ".safetensors") != 0)
            continue;
        if (n == MAX_SHARDS)
            rc = promoe_err_set(err, "%s: more than %d safetensors files", path, MAX_SHARDS);
        else if (!(names[n++] = strdup(e->d_name)))
            rc = promoe_err_set(err, "out of memory");
    }
    closedir(d);
    if (rc == 0 && n == 0)
        rc = promoe_err_set(err, "%s: no .safetensors file in the folder", path);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        if (rc == 0 && st_open(file, &c->files[c->count], err) == 0)
            c->count++;
        else if (rc == 0)
            rc = -1;
        free(names[i]);
    }
    if (rc < 0)
        checkpoint_close(c);
    return rc;
}

static const st_tensor *find(const checkpoint *c, const char *name)
{
    for (int i = 0; i < c->count; i++) {
        const st_tensor *t = st_find(&c->files[i], name);
        if (t)
            return t;
    }
    return NULL;
}

/* Tensor NAME of shape [rows, cols] (cols 0: a vector of rows) into out. */
static int load(const checkpoint *c, const char *name, int64_t rows, int64_t cols, float *out,
                promoe_err *err)
{
    const st_tensor *t = find(c, name);
    if (!t)
        return promoe_err_set(err, "%s: no tensor %s (is it this model's checkpoint?)", c->where,
                              name);
    int rank = cols ? 2 : 1;
    if (t->rank != rank || t->shape[0] != rows || (cols && t->shape[1] != cols))
        return promoe_err_set(err, "%s: tensor %s has shape [%lld%s%lld], the model needs "
                              "[%lld%s%lld]", c->where, name, (long long)t->shape[0],
                              t->rank > 1 ? ", " : "", t->rank > 1 ? (long long)t->shape[1] : 0LL,
                              (long long)rows, cols ? ", " : "", (long long)cols);
    if ((int)t->dtype < 0)
        return promoe_err_set(err, "%s: tensor %s is not F32, F16 or BF16", c->where, name);
    st_tensor_floats(t, out);
    return 0;
}

/* Part `part` (0 gate, 1 up, 2 down) of S shared experts of width Fs
 * stored as one MLP S times as wide (DeepSeek's "shared_experts"): read
 * once, then expert s's rows of gate and up, or columns of down, go to
 * its block of `shared` ([S][3][Fs * d]). */
static int load_split(const checkpoint *c, const char *name, int part, int64_t S, int64_t Fs,
                      int64_t d, float *shared, promoe_err *err)
{
    int64_t rows = part < 2 ? S * Fs : d, cols = part < 2 ? d : S * Fs;
    float *all = malloc((size_t)rows * (size_t)cols * sizeof *all);
    if (!all)
        return promoe_err_set(err, "out of memory");
    int rc = load(c, name, rows, cols, all, err);
    for (int64_t s = 0; rc == 0 && s < S; s++) {
        float *out = shared + (size_t)s * 3 * Fs * d + (size_t)part * Fs * d;
        if (part < 2) /* rows s Fs .. (s + 1) Fs */
            memcpy(out, all + s * Fs * d, (size_t)(Fs * d) * sizeof *out);
        else /* columns s Fs .. (s + 1) Fs of every row */
            for (int64_t r = 0; r < d; r++)
                memcpy(out + r * Fs, all + r * cols + s * Fs, (size_t)Fs * sizeof *out);
    }
    free(all);
    return rc;
}

/* The optional parts the checkpoint has (enum exec_extra), judged by
 * layer 0, and the width of its query norm. */
static unsigned extras_of(const checkpoint *c, int *qk_norm_width)
{
    const st_tensor *qn = find(c, "model.layers.0.self_attn.q_norm.weight");
    *qk_norm_width = qn && qn->rank == 1 ? (int)qn->shape[0] : 0;
    return (qn ? EXEC_QK_NORM : 0u) |
           (find(c, "model.layers.0.self_attn.q_proj.bias") ? EXEC_QKV_BIAS : 0u) |
           (find(c, "model.layers.0.mlp.shared_expert_gate.weight") ? EXEC_SHARED_GATE : 0u);
}

/* Layer l's optional parts. */
static int load_extras(const checkpoint *c, const exec_weights *w, int l, promoe_err *err)
{
    const model_desc *m = &w->model;
    const exec_layer_weights *y = &w->layers[l];
    int64_t q = (int64_t)m->num_heads * m->head_dim, kv = (int64_t)m->num_kv_heads * m->head_dim;
    int64_t qw = w->qk_norm_width, kw = qw == q ? kv : qw;
    char n[256];
    int rc = 0;
#define NAME(...) (snprintf(n, sizeof n, __VA_ARGS__), n)
    if (y->q_norm) {
        rc = load(c, NAME("model.layers.%d.self_attn.q_norm.weight", l), qw, 0, y->q_norm, err);
        if (rc == 0)
            rc = load(c, NAME("model.layers.%d.self_attn.k_norm.weight", l), kw, 0, y->k_norm,
                      err);
    }
    if (rc == 0 && y->bq) {
        rc = load(c, NAME("model.layers.%d.self_attn.q_proj.bias", l), q, 0, y->bq, err);
        if (rc == 0)
            rc = load(c, NAME("model.layers.%d.self_attn.k_proj.bias", l), kv, 0, y->bk, err);
        if (rc == 0)
            rc = load(c, NAME("model.layers.%d.self_attn.v_proj.bias", l), kv, 0, y->bv, err);
    }
    if (rc == 0 && y->shared_gate)
        rc = load(c, NAME("model.layers.%d.mlp.shared_expert_gate.weight", l), 1,
                  m->hidden_size, y->shared_gate, err);
#undef NAME
    return rc;
}

int exec_weights_load(const model_desc *m, const char *path, exec_weights *w, promoe_err *err)
{
    checkpoint c;
    if (checkpoint_open(&c, path, err) < 0)
        return -1;
    int qk_norm_width;
    unsigned extras = extras_of(&c, &qk_norm_width);
    int rc = exec_weights_alloc(m, w, err);
    if (rc == 0 && extras && (rc = exec_weights_add_extras(w, extras, qk_norm_width, err)) < 0) {
        exec_weights_free(w);
        promoe_err_prefix(err, "%s", path);
    }
    if (rc < 0) {
        checkpoint_close(&c);
        return -1;
    }
    int64_t d = m->hidden_size, V = m->vocab_size, q = (int64_t)m->num_heads * m->head_dim;
    int64_t kv = (int64_t)m->num_kv_heads * m->head_dim, F = m->expert_ffn_dim;
    int64_t Fs = m->shared_ffn_dim, S = m->num_shared_experts, E = m->num_experts;
    int mixtral = find(&c, "model.layers.0.block_sparse_moe.gate.weight") != NULL;
    char n[256];
#define NAME(...) (snprintf(n, sizeof n, __VA_ARGS__), n)
    rc = load(&c, "model.embed_tokens.weight", V, d, w->embed, err);
    for (int l = 0; rc == 0 && l < m->num_layers; l++) {
        exec_layer_weights *y = &w->layers[l];
        const char *moe = mixtral ? "block_sparse_moe" : "mlp";
        rc = load(&c, NAME("model.layers.%d.input_layernorm.weight", l), d, 0, y->attn_norm, err);
        if (rc == 0)
            rc = load(&c, NAME("model.layers.%d.self_attn.q_proj.weight", l), q, d, y->wq, err);
        if (rc == 0)
            rc = load(&c, NAME("model.layers.%d.self_attn.k_proj.weight", l), kv, d, y->wk, err);
        if (rc == 0)
            rc = load(&c, NAME("model.layers.%d.self_attn.v_proj.weight", l), kv, d, y->wv, err);
        if (rc == 0)
            rc = load(&c, NAME("model.layers.%d.self_attn.o_proj.weight", l), d, q, y->wo, err);
        if (rc == 0)
            rc = load(&c, NAME("model.layers.%d.post_attention_layernorm.weight", l), d, 0,
                      y->ffn_norm, err);
        if (rc == 0)
            rc = load(&c, NAME("model.layers.%d.%s.gate.weight", l, moe), E, d, y->router, err);
        if (rc == 0)
            rc = load_extras(&c, w, l, err);
        /* an expert's block: gate [F][d], up [F][d], down [d][F] */
        static const char *const mixtral_parts[3] = {"w1", "w3", "w2"};
        static const char *const mlp_parts[3] = {"gate_proj", "up_proj", "down_proj"};
        for (int64_t e = 0; rc == 0 && e < E; e++)
            for (int part = 0; rc == 0 && part < 3; part++)
                rc = load(&c, NAME("model.layers.%d.%s.experts.%lld.%s.weight", l, moe,
                                   (long long)e, mixtral ? mixtral_parts[part] : mlp_parts[part]),
                          part < 2 ? F : d, part < 2 ? d : F,
                          y->experts + (size_t)e * 3 * F * d + (size_t)part * F * d, err);
        /* shared experts: Qwen's one "shared_expert", or DeepSeek's
         * "shared_experts" merged into one MLP S times as wide (split here:
         * rows of gate and up, columns of down) */
        for (int part = 0; rc == 0 && S > 0 && part < 3; part++) {
            const char *merged = NAME("model.layers.%d.mlp.shared_experts.%s.weight", l,
                                      mlp_parts[part]);
            if (S == 1 && !find(&c, merged))
                rc = load(&c, NAME("model.layers.%d.mlp.shared_expert.%s.weight", l,
                                   mlp_parts[part]), part < 2 ? Fs : d, part < 2 ? d : Fs,
                          y->shared + (size_t)part * Fs * d, err);
            else
                rc = load_split(&c, merged, part, S, Fs, d, y->shared, err);
        }
    }
    if (rc == 0)
        rc = load(&c, "model.norm.weight", d, 0, w->final_norm, err);
    if (rc == 0) /* tied embeddings have no separate head */
        rc = find(&c, "lm_head.weight") ? load(&c, "lm_head.weight", V, d, w->lm_head, err)
             : load(&c, "model.embed_tokens.weight", V, d, w->lm_head, err);
#undef NAME
    checkpoint_close(&c);
    if (rc < 0)
        exec_weights_free(w);
    return rc;
}

int exec_weights_from(const model_desc *m, const char *spec, unsigned long seed, exec_weights *w,
                      promoe_err *err)
{
    return strcmp(spec, "synthetic") == 0 ? exec_weights_synthetic(m, seed, w, err)
                                          : exec_weights_load(m, spec, w, err);
}

int exec_weights_save(const exec_weights *w, const char *path, int half, promoe_err *err)
{
    const model_desc *m = &w->model;
    int64_t d = m->hidden_size, V = m->vocab_size, q = (int64_t)m->num_heads * m->head_dim;
    int64_t kv = (int64_t)m->num_kv_heads * m->head_dim, F = m->expert_ffn_dim;
    int64_t E = m->num_experts, L = m->num_layers, Fs = m->shared_ffn_dim;
    int64_t qw = w->qk_norm_width, kw = qw == q ? kv : qw;
    if (m->num_shared_experts > 1)
        return promoe_err_set(err, "saving %d shared experts is not built (one is saved as "
                              "Qwen-MoE names it)", m->num_shared_experts);
    /* per layer: 7 attention and router tensors, 3 per expert, up to 3
     * shared, 2 norms, 3 biases and a gate */
    size_t count = 3 + (size_t)L * (7 + 3 * (size_t)E + 9);
    st_out *t = calloc(count, sizeof *t);
    char (*names)[96] = calloc(count, sizeof *names);
    if (!t || !names) {
        free(t);
        free(names);
        return promoe_err_set(err, "out of memory");
    }
    size_t i = 0;
#define ADD(ptr, r, c, ...)                                                                  \
    do {                                                                                     \
        snprintf(names[i], sizeof names[i], __VA_ARGS__);                                    \
        t[i] = (st_out){names[i], (ptr), (c) ? 2 : 1, {(r), (c)}};                           \
        i++;                                                                                 \
    } while (0)
    ADD(w->embed, V, d, "model.embed_tokens.weight");
    for (int64_t l = 0; l < L; l++) {
        const exec_layer_weights *y = &w->layers[l];
        ADD(y->attn_norm, d, 0, "model.layers.%lld.input_layernorm.weight", (long long)l);
        ADD(y->wq, q, d, "model.layers.%lld.self_attn.q_proj.weight", (long long)l);
        ADD(y->wk, kv, d, "model.layers.%lld.self_attn.k_proj.weight", (long long)l);
        ADD(y->wv, kv, d, "model.layers.%lld.self_attn.v_proj.weight", (long long)l);
        ADD(y->wo, d, q, "model.layers.%lld.self_attn.o_proj.weight", (long long)l);
        ADD(y->ffn_norm, d, 0, "model.layers.%lld.post_attention_layernorm.weight", (long long)l);
        ADD(y->router, E, d, "model.layers.%lld.block_sparse_moe.gate.weight", (long long)l);
        for (int64_t e = 0; e < E; e++) {
            const float *b = y->experts + (size_t)e * 3 * F * d;
            ADD(b, F, d, "model.layers.%lld.block_sparse_moe.experts.%lld.w1.weight",
                (long long)l, (long long)e);
            ADD(b + F * d, F, d, "model.layers.%lld.block_sparse_moe.experts.%lld.w3.weight",
                (long long)l, (long long)e);
            ADD(b + 2 * F * d, d, F, "model.layers.%lld.block_sparse_moe.experts.%lld.w2.weight",
                (long long)l, (long long)e);
        }
        if (m->num_shared_experts) {
            ADD(y->shared, Fs, d, "model.layers.%lld.mlp.shared_expert.gate_proj.weight",
                (long long)l);
            ADD(y->shared + Fs * d, Fs, d, "model.layers.%lld.mlp.shared_expert.up_proj.weight",
                (long long)l);
            ADD(y->shared + 2 * Fs * d, d, Fs,
                "model.layers.%lld.mlp.shared_expert.down_proj.weight", (long long)l);
        }
        if (y->q_norm) {
            ADD(y->q_norm, qw, 0, "model.layers.%lld.self_attn.q_norm.weight", (long long)l);
            ADD(y->k_norm, kw, 0, "model.layers.%lld.self_attn.k_norm.weight", (long long)l);
        }
        if (y->bq) {
            ADD(y->bq, q, 0, "model.layers.%lld.self_attn.q_proj.bias", (long long)l);
            ADD(y->bk, kv, 0, "model.layers.%lld.self_attn.k_proj.bias", (long long)l);
            ADD(y->bv, kv, 0, "model.layers.%lld.self_attn.v_proj.bias", (long long)l);
        }
        if (y->shared_gate)
            ADD(y->shared_gate, 1, d, "model.layers.%lld.mlp.shared_expert_gate.weight",
                (long long)l);
    }
    ADD(w->final_norm, d, 0, "model.norm.weight");
    ADD(w->lm_head, V, d, "lm_head.weight");
#undef ADD
    int rc = st_write(path, t, (int)i, half ? ST_F16 : ST_F32, err);
    free(t);
    free(names);
    return rc;
}
