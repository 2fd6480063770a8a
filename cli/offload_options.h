/* offload_options.h - the options that set an offloading system on the
 * command line, one table for `promoe sim` and `promoe exec`.  Each names a
 * key of a system file (systems/NAME.ini, offload/system.h) and is kept as
 * that key's text, to be set over the named system (or the defaults) with
 * the file's own types, ranges and checks: every setting is declared once,
 * in the system's key table.  A command puts OFFLOAD_LONG_OPTIONS in its
 * getopt table, OFFLOAD_USAGE in its help, and hands each option to
 * offload_option first. */
#ifndef PROMOE_CLI_OFFLOAD_OPTIONS_H
#define PROMOE_CLI_OFFLOAD_OPTIONS_H

#include <getopt.h>

#include "offload/system.h"

/* Above the commands' own option values (256 and up). */
enum {
    OFFLOAD_OPT_SCOPE = 1024, OFFLOAD_OPT_PREDICTOR, OFFLOAD_OPT_STRIDE, OFFLOAD_OPT_LIMIT,
    OFFLOAD_OPT_MIN_PROB, OFFLOAD_OPT_CHUNKS, OFFLOAD_OPT_CHUNK_BYTES, OFFLOAD_OPT_PREEMPT,
    OFFLOAD_OPT_REORDER, OFFLOAD_OPT_BY_GAIN, OFFLOAD_OPT_STAGING, OFFLOAD_OPT_LOWBIT,
    OFFLOAD_OPT_CPU
};

#define OFFLOAD_LONG_OPTIONS                                                                  \
    {"policy", required_argument, NULL, 'p'},                                                 \
    {"cache-scope", required_argument, NULL, OFFLOAD_OPT_SCOPE},                              \
    {"predictor", required_argument, NULL, OFFLOAD_OPT_PREDICTOR},                            \
    {"stride", required_argument, NULL, OFFLOAD_OPT_STRIDE},                                  \
    {"prefetch-limit", required_argument, NULL, OFFLOAD_OPT_LIMIT},                           \
    {"prefetch-min-prob", required_argument, NULL, OFFLOAD_OPT_MIN_PROB},                     \
    {"chunks", required_argument, NULL, OFFLOAD_OPT_CHUNKS},                                  \
    {"chunk-bytes", required_argument, NULL, OFFLOAD_OPT_CHUNK_BYTES},                        \
    {"preempt", no_argument, NULL, OFFLOAD_OPT_PREEMPT},                                      \
    {"reorder", no_argument, NULL, OFFLOAD_OPT_REORDER},                                      \
    {"prefetch-by-gain", no_argument, NULL, OFFLOAD_OPT_BY_GAIN},                             \
    {"staging", required_argument, NULL, OFFLOAD_OPT_STAGING},                                \
    {"lowbit-on-miss", required_argument, NULL, OFFLOAD_OPT_LOWBIT},                          \
    {"cpu-compute", optional_argument, NULL, OFFLOAD_OPT_CPU}

#define OFFLOAD_USAGE                                                                         \
    "Offloading, the same options in 'promoe sim' and 'promoe exec'.  Each sets\n"            \
    "the key of a system file shown in brackets, over --system's.  The executor\n"            \
    "refuses those marked 'sim only' (it lacks the machinery, or cannot read the\n"          \
    "future):\n"                                                                             \
    "  -p, --policy NAME[:k=v,...]\n"                                                         \
    "                         eviction policy (default lru): lru, lfu, fifo,\n"               \
    "                         lru-k[:k=2], promoe (prediction-aware LRU),\n"                  \
    "                         static:trace=TRAIN.h5[,spare=2] (popular experts fixed),\n"     \
    "                         belady (offline optimum: reads the future, an upper\n"          \
    "                         bound; sim only)  [policy]\n"                                 \
    "      --cache-scope S    global (one pool, default) or per-layer (slots / L each,\n"     \
    "                         the first layers taking the remainder)  [cache_scope]\n"        \
    "      --predictor NAME[:k=v,...]\n"                                                      \
    "                         prefetch what it predicts (default none): gate-reuse,\n"        \
    "                         learned:train=T.h5, cross-layer, eam, ..., or\n"                \
    "                         oracle[:accuracy=p] (reads the future: an upper bound;\n"       \
    "                         sim only)  [predictor]\n"                              \
    "      --stride S         predictions target layer l + S (default 1); past the\n"         \
    "                         last layer they target the next iteration's  [stride]\n"        \
    "      --prefetch-limit N experts prefetched per prediction (default 0: top-k)\n"         \
    "                         [prefetch_limit]\n"                                             \
    "      --prefetch-min-prob P\n"                                                           \
    "                         prefetch only experts whose share of the predicted\n"           \
    "                         scores times top-k (the chance, for a calibrated\n"             \
    "                         predictor, that the expert is chosen) is at least P\n"          \
    "                         (default 0: every predicted expert)  [prefetch_min_prob]\n"     \
    "      --prefetch-by-gain prefetch a predicted expert only when its chance of\n"          \
    "                         being chosen, times the part of its copy done before\n"         \
    "                         its layer, beats the chance it is wrong times what it\n"        \
    "                         costs (link time in the demands' way, and an evicted\n"         \
    "                         expert wanted back): promoe-adaptive  [prefetch_by_gain]\n"     \
    "      --chunks N         copy each expert in N chunks (default 1)  [chunks]\n"           \
    "      --chunk-bytes B    or in chunks of at most B bytes (e.g. 64MiB)\n"                 \
    "                         [chunk_bytes]\n"                                                \
    "      --preempt          demand copies go before prefetches, between chunks\n"           \
    "                         [preempt]\n"                                                    \
    "      --reorder          compute a layer's resident experts first  [reorder]\n"          \
    "      --staging N        prefetch into N buffers taken from the cache: an\n"             \
    "                         expert joins the cache only when used, so a wrong\n"            \
    "                         prediction evicts nothing (default 0: prefetches go\n"          \
    "                         straight into the cache, as the paper's; sim only)\n"   \
    "                         [staging]\n"          \
    "      --lowbit-on-miss weight<W[,ratio=R]\n"                                             \
    "                         HOBBIT: a missed expert whose largest gate weight for\n"        \
    "                         the step's tokens is below W is copied in low precision,\n"     \
    "                         R of its bytes (default 0.25: int4 for fp16), and used\n"       \
    "                         once (needs routing/weights; sim only)\n"              \
    "                         [lowbit_on_miss]\n"               \
    "      --cpu-compute[=always]\n"                                                          \
    "                         compute a missed expert where it lives, on the host,\n"         \
    "                         when that finishes before its copy would (Fiddler), or\n"       \
    "                         every miss (=always: MoNDE's cold experts; sim only)\n" \
    "                         [cpu_compute]\n"

/* What a command line said of the system: each setting as its key's text,
 * in the order given (the last of a key wins), and a predictor spec that
 * replaces the system's choice as written. */
typedef struct offload_overrides {
    struct {
        const char *flag, *key, *value; /* the value: argv's, or a literal */
    } set[32];
    int n;
    const char *predictor;
} offload_overrides;

/* Option c with argument arg: 1 if it is one of OFFLOAD_LONG_OPTIONS and
 * was taken into ov, 0 if it is not one of them, -1 after printing a usage
 * error (command cmd) for a malformed value. */
int offload_option(const char *cmd, int c, const char *arg, offload_overrides *ov);

/* A command's own option flag that sets system key `key` to value: as
 * offload_option, 1 or -1. */
int offload_option_key(const char *cmd, offload_overrides *ov, const char *flag,
                       const char *key, const char *value);

/* After parsing: the predictor named exists, and --chunks and
 * --chunk-bytes are not both given; CLI_OK, or a usage error printed. */
int offload_options_check(const char *cmd, const offload_overrides *ov);

/* Whether the command line set key. */
int offload_options_given(const offload_overrides *ov, const char *key);

/* The system `name` (--system), or system_defaults when it is NULL, with
 * what ov says set over it, into *s: CLI_OK, or the error printed and its
 * status (a usage error for an unknown system or a bad value). */
int offload_options_system(const char *cmd, const char *name, const offload_overrides *ov,
                           system_desc *s);

/* A system whose policy learns its fixed experts from a trace (static,
 * monde) needs --train: CLI_OK, or a usage error printed. */
int offload_options_need_train(const char *cmd, const system_desc *s, const char *train);

#endif
