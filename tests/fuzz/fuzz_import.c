/* fuzz_import - the text importers (warp-jsonl, jsonl, csv) on arbitrary
 * input.  The first byte picks the format; the rest is the file.  Records
 * go into an in-memory builder (no file is written, to keep executions
 * fast); every input must end in a trace or a one-line error, never a crash. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "traces/trace_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const formats[] = {"warp-jsonl", "jsonl", "csv"};
    if (size < 1)
        return 0;
    const trace_importer *imp = trace_importer_find(formats[data[0] % 3]);
    FILE *in = fmemopen((void *)(data + 1), size - 1, "r");
    if (!in || !imp) {
        if (in)
            fclose(in);
        return 0;
    }
    trace_import_opts o;
    trace_import_defaults(&o);
    o.num_experts = 8;
    promoe_err err = {{0}};
    trace_builder *b = trace_builder_create("fuzz", o.num_experts, 0, 0, &err);
    if (b) {
        imp->read(in, "fuzz", &o, b, &err);
        trace_builder_free(b);
    }
    fclose(in);
    if (strchr(err.msg, '\n'))
        __builtin_trap(); /* errors are one line */
    return 0;
}
