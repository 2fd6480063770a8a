/* fuzz_options - the strings users type: "NAME:k=v,..." predictor and
 * policy specs (through the registries' own create functions where they
 * need no trace), low-bit rules, sizes with units, cache sizes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "common/units.h"
#include "offload/cache.h"
#include "offload/system.h"
#include "predictors/predictor.h"

static int accept(void *ctx, const char *key, const char *value, promoe_err *err)
{
    long v;
    double d;
    (void)ctx;
    if (strcmp(key, "i") == 0)
        return options_int(key, value, -5, 5, &v, err);
    if (strcmp(key, "d") == 0)
        return options_double(key, value, 0, 1, &d, err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    promoe_err err = {{0}};
    char name[64];
    const char *opts = options_split_spec(s, name, sizeof name);
    options_parse("fuzz", opts, accept, NULL, &err);
    /* predictors that need neither a trace nor hidden states */
    const predictor_ops *ops = predictor_find(name);
    if (ops && !ops->needs_hidden && !ops->needs_future && !ops->needs_training) {
        predictor_env env = {.num_layers = 4, .num_experts = 8, .top_k = 2, .stride_lo = 1,
                             .stride_hi = 2};
        void *st = ops->create(&env, opts, &err);
        if (st)
            ops->destroy(st);
    }
    double w, r, bytes;
    system_parse_lowbit(s, &w, &r, &err);
    units_parse_bytes(s, &bytes, NULL, &err);
    int64_t slots;
    cache_size_parse(s, 4, 8, 1024, &slots, &err);
    free(s);
    return 0;
}
