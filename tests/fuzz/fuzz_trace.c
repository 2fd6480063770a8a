/* fuzz_trace - the HDF5 trace reader on mutated and truncated files (the
 * seed corpus holds valid small traces): open, read the requests, stream
 * every iteration with all optional datasets.  A damaged file must give a
 * one-line error, never a crash or an out-of-bounds read. */
#include <stdint.h>

#include "fuzz_file.h"

#include "traces/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(data, size, ".h5");
    if (!path)
        return 0;
    promoe_err err = {{0}};
    trace_reader *r = trace_reader_open(path, TRACE_WEIGHTS | TRACE_LOGITS | TRACE_HIDDEN, &err);
    if (!r)
        return 0;
    trace_iteration it;
    while (trace_read_iteration(r, &it, &err) > 0)
        ;
    trace_reader_close(r);
    return 0;
}
