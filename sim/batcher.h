/* batcher.h - the iterations the simulator runs, built from a trace.
 *
 * With batch 1 these are the trace's own iterations (a batched trace is
 * replayed as recorded).  With batch N > 1 the batcher schedules requests
 * itself (continuous batching): up to N requests are active; each step
 * holds every active request's next recorded iteration (the whole prompt
 * for a request just admitted, else its next decode token); a request
 * leaves when its tokens run out and the next one in the trace takes its
 * place.  This needs a trace whose iterations each belong to one request,
 * stored request after request (what batch-1 recordings and `trace gen`
 * produce); the requests being served are held in memory.
 */
#ifndef PROMOE_SIM_BATCHER_H
#define PROMOE_SIM_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "traces/trace.h"

/* One step's tokens, owned by whoever holds the buffer. */
typedef struct step_buf {
    int valid;
    size_t n, cap;
    size_t lk;          /* L * K */
    size_t ld;          /* L * D when hidden states are carried, else 0 */
    int has_weights;    /* gate weights are carried */
    int32_t *request, *position;
    uint8_t *phase;
    int16_t *experts;   /* [n][L][K] */
    float *weights;     /* [n][L][K] gate weights when the reader loads them, else NULL */
    float *hidden;      /* [n][L][D] or NULL */
} step_buf;

void step_buf_free(step_buf *b);

typedef struct batcher batcher;

/* The batcher reads from r (which the caller keeps open); steps carry
 * hidden states when r was opened to load them. */
batcher *batcher_create(trace_reader *r, int batch, promoe_err *err);
void batcher_free(batcher *b);
/* Fills out with the next step; returns 1, 0 at the end, -1 on error. */
int batcher_next(batcher *b, step_buf *out, promoe_err *err);

#endif
