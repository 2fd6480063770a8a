/* model.h - MoE model descriptions, loaded from preset data files.
 *
 * A preset is an INI file (models/NAME.ini, installed under
 * $(pkgdatadir)/models) with one [model] section giving the shapes that
 * decide routing (layers, experts, top-k) and costs (widths, precision).
 * Users add models by adding files, or by passing a path to --model
 * (common/preset.h says where presets are found).
 */
#ifndef PROMOE_MODELS_MODEL_H
#define PROMOE_MODELS_MODEL_H

#include <stddef.h>

#include "common/error.h"

#define MODEL_NAME_MAX 64

typedef struct model_desc {
    char name[MODEL_NAME_MAX];
    int num_layers;          /* MoE layers */
    int num_experts;         /* routed experts per layer */
    int top_k;
    int hidden_size;         /* model width d */
    int expert_ffn_dim;      /* intermediate width of one routed expert */
    int num_shared_experts;  /* always-active experts per layer */
    int shared_ffn_dim;
    int num_heads;
    int num_kv_heads;
    int head_dim;
    int vocab_size;
    int bits_per_weight;     /* 16 (fp16/bf16), 8 or 4 */
    int norm_topk_prob;      /* 1: gate weights renormalised over the top-k */
    /* what the executor computes with (the simulator does not need them) */
    double rope_theta;       /* rotary base (default 10000) */
    double rms_norm_eps;     /* RMSNorm epsilon (default 1e-6) */
    /* the synthetic generator's knobs for this model's traces, where the
     * preset calibrates them to the model's real statistics (trace gen
     * --calibrate-to fits the same three); 0: the generator's default */
    double trace_token_corr, trace_router_corr, trace_skew;
} model_desc;

/* Loads a preset by name (searching $PROMOE_DATADIR/models, the source
 * tree's models/, then the installed presets) or from a path to an .ini
 * file.  Errors name the file and line; PRESET_UNKNOWN (common/preset.h)
 * when the name is no preset. */
int model_load(const char *name_or_path, model_desc *m, promoe_err *err);

/* Bytes of one routed expert's weights (gate, up and down matrices). */
size_t model_expert_bytes(const model_desc *m);

/* Writes the names of the presets found, comma-separated, into buf. */
void model_list_presets(char *buf, size_t len);

#endif
