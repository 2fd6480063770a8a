/* system.h - named system configurations (`--system NAME`), loaded from
 * data files systems/NAME.ini: a policy, a predictor, the prefetch switches
 * and cost options, so that a new system is a new file, not a new code
 * path.  `predictor` lists choices in order of preference; the first one
 * this build has is used, and the choice is reported. */
#ifndef PROMOE_OFFLOAD_SYSTEM_H
#define PROMOE_OFFLOAD_SYSTEM_H

#include "common/error.h"
#include "models/model.h"
#include "offload/config.h"

typedef struct system_desc {
    char name[64];
    char description[256];
    char policy[32];         /* its name; "NAME:options" in the file */
    char policy_options[1200];
    int policy_trace;        /* the policy takes the training trace (trace=T.h5) */
    char predictor[128];     /* "a|b|none": first available wins */
    char cache_scope[16];    /* global or per-layer */
    int all_gpu;             /* every expert resident from the start */
    int stride, chunks, preempt, reorder, prefetch_limit, cpu_compute, staging;
    int load_on_reach;       /* the paper's baselines (offload/config.h) */
    int prefetch_by_gain;    /* promoe-adaptive (offload/config.h) */
    char chunk_bytes[32];    /* chunks of at most this size ("32MiB"), if set */
    char lowbit_on_miss[64]; /* "weight<0.2,ratio=0.25" (HOBBIT), if set */
    char layer_offload[16];  /* stream (TO) or cpu (LO): no expert cache, if set */
    double predictor_us;
    double fault_us;
    double prefetch_min_prob;
} system_desc;

/* As model_load, for systems/ presets. */
int system_load(const char *name_or_path, system_desc *s, promoe_err *err);

void system_list_presets(char *buf, size_t len);

/* The name of the system's first choice of predictor into first, and of
 * the one it falls back to ("none" after the last) into next, unless next
 * is NULL. */
void system_predictor_choices(const system_desc *s, char *first, size_t first_len, char *next,
                              size_t next_len);

/* What running system s needs beyond a trace and --cache, in words, into
 * buf: a training trace for its policy or predictor, hidden states for its
 * predictor (and what it falls back to without them), the trace's future,
 * or "nothing more". */
void system_needs(const system_desc *s, char *buf, size_t len);

/* The settings of a system that says nothing: LRU, global scope, no
 * predictor, stride 1, whole-expert copies (what system_load starts from). */
void system_defaults(system_desc *s);

/* Sets one key of s from text, as a line of systems/NAME.ini would (the
 * same names, types, ranges and checks), so that a command line can say
 * what a file says: "policy" takes NAME[:options] (and drops the file's
 * policy_trace: the options given are the policy's whole), and "chunks"
 * and "chunk_bytes" each clear the other, the last said winning. */
int system_set(system_desc *s, const char *key, const char *value, promoe_err *err);

/* The chunks per expert of model m when copies are cut into pieces of at
 * most `size` ("32MiB", or bytes); -1 with a message if it is malformed or
 * gives more than 1024 chunks. */
int system_chunks_for_size(const model_desc *m, const char *size, int *chunks, promoe_err *err);

/* Parses "weight<W,ratio=R" (a miss whose largest gate weight is below W
 * is loaded as R of its bytes; ratio defaults to 0.25, int4 against fp16)
 * into *weight and *ratio. */
int system_parse_lowbit(const char *spec, double *weight, double *ratio, promoe_err *err);

/* Sets what the system is into cfg, before what it needs: its policy,
 * cache scope, prefetch switches, costs and machinery (staging, CPU
 * compute, low-bit loads, layer offload), for model m (chunk_bytes is
 * resolved only when m has layers).  cfg's policy options live in s. */
int system_settings(const system_desc *s, offload_config *cfg, const model_desc *m,
                    promoe_err *err);

/* system_settings, and the predictor and training trace the system needs
 * (cfg->slots is left to the caller, except for all_gpu).  The
 * predictor is the first of the system's choices this build has and the
 * trace can serve (has_hidden: it holds hidden states and router weights):
 * one that must be trained only when `train` names a training trace, which
 * it is then given whole (train=PATH,split=1); so is a policy_trace
 * policy (trace=PATH), which refuses to run without it.  predictor_buf
 * receives the choice and *fell_back is set when it is not the system's
 * first; cfg's policy options live in s. */
int system_apply(system_desc *s, offload_config *cfg, const model_desc *m, int has_hidden,
                 const char *train, char *predictor_buf, size_t len, int *fell_back,
                 promoe_err *err);

#endif
