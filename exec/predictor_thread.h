/* predictor_thread.h - the executor's predictor off the critical path: a
 * thread of its own serving, in order, the observations the model hands
 * it (a step beginning; a layer's routing and hidden states, copied), as
 * the paper's predictor runs on the CPU beside the GPU's computation.
 * Each job is served by the owner's callback on that thread; the model
 * waits only when the queue is full (the time is counted).
 */
#ifndef PROMOE_EXEC_PREDICTOR_THREAD_H
#define PROMOE_EXEC_PREDICTOR_THREAD_H

#include <stdint.h>

#include "common/error.h"
#include "exec/backend.h"
#include "predictors/predictor.h"

/* A job: a step beginning (begin), or a layer's observation of the step's
 * tokens (obs, pointing into the job's own copies, valid during the call;
 * hidden may be written to). */
typedef struct predictor_job {
    int begin;
    int64_t step;
    predictor_obs obs;
    float *hidden;          /* obs.hidden, writable; NULL if none */
} predictor_job;

typedef void (*predictor_job_fn)(void *ctx, predictor_job *job);

typedef struct predictor_thread predictor_thread;

/* A thread serving jobs with fn(ctx, job), for observations of top-k
 * experts and hidden states d wide. */
predictor_thread *predictor_thread_create(int top_k, int hidden_dim, predictor_job_fn fn,
                                          void *ctx, promoe_err *err);
/* Stops the thread once every job queued has been served. */
void predictor_thread_free(predictor_thread *t);

/* Queues a step beginning, or a layer's routing r of the step's tokens of
 * `request` at positions position, position + 1... (copied now).  -1 with
 * err when out of memory. */
int predictor_thread_begin(predictor_thread *t, int64_t step, promoe_err *err);
int predictor_thread_observe(predictor_thread *t, int64_t step, const exec_routing *r,
                             int32_t request, int32_t position, promoe_err *err);
/* Waits until every job queued has been served. */
void predictor_thread_drain(predictor_thread *t);
/* Time the callers waited for room in the queue. */
double predictor_thread_waited_s(predictor_thread *t);

#endif
