/* event_log.h - what a clock told a decision engine (offload/engine.h) and
 * what the engine asked of it, in order: the events (a layer begun, its
 * gate with the experts chosen, a prediction made or ready, a copy started
 * or done, a CPU computation done, a layer done) and, for each question
 * (queue, promote or drop a copy; which key is in flight; chunks copied;
 * compute on the CPU?; link time free before a layer?), the events it set
 * off and the clock's answer; and the run's end, so that a log cut short
 * anywhere is known.
 * Replaying a log through a fresh engine with no clock makes the same
 * decisions, one by one (equal offload_engine_digest), whoever recorded
 * it: the simulator's cost model or a real run. */
#ifndef PROMOE_OFFLOAD_EVENT_LOG_H
#define PROMOE_OFFLOAD_EVENT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "offload/config.h"
#include "policies/policy.h"

enum offload_log_kind {
    LOG_BEGIN_LAYER, LOG_GATE, LOG_PREDICTED, LOG_PREFETCH, LOG_COPY_START, LOG_COPY_DONE,
    LOG_CPU_DONE, LOG_LAYER_DONE, LOG_REACH, LOG_FINISH,
    LOG_ASK_COPY, LOG_ASK_PROMOTE, LOG_ASK_DROP, LOG_ASK_IN_FLIGHT, LOG_ASK_CHUNKS,
    LOG_ASK_CPU, LOG_ASK_SLACK, LOG_ANSWER
};

/* A log: entries of a kind and its words, appended in order. */
typedef struct offload_log {
    int64_t *w;
    size_t n, cap;
    int failed;        /* out of memory while appending: the log is not whole */
} offload_log;

void offload_log_free(offload_log *log);
/* Appends an entry of `kind` with n words (failed set when out of memory). */
void offload_log_put(offload_log *log, int kind, const int64_t *words, size_t n);

/* Replays log through a fresh engine for the system c on L layers of E
 * experts, top-k (future: the offline policy's, as recorded, or NULL) and
 * writes the engine's decisions digest; -1 with err when the log is not
 * whole or does not read as one. */
int offload_log_replay(const offload_log *log, const offload_config *c, int L, int E, int K,
                       const policy_future *future, uint64_t *digest, promoe_err *err);

#endif
