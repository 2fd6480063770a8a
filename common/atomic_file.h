/* atomic_file.h - write a file so that readers see the old one or the whole
 * new one, never a half-written file.
 *
 * A writer asks for a temporary name beside the destination, writes there,
 * and either commits (fsync + rename over the destination) or aborts
 * (unlink).  A run killed in between leaves only a stray ".tmp" file, and
 * not even that when its signal handler calls atomic_file_remove_pending
 * (SIGKILL cannot be handled).
 */
#ifndef PROMOE_COMMON_ATOMIC_FILE_H
#define PROMOE_COMMON_ATOMIC_FILE_H

#include <stdio.h>

#include "common/error.h"

typedef struct atomic_file {
    char *final_path;
    char *tmp_path;
    FILE *fp;           /* open stream on tmp_path, or NULL after close */
} atomic_file;

/* Creates an empty temporary file beside PATH.  With want_stream, af->fp is
 * a stdio stream on it; otherwise the caller opens tmp_path itself (HDF5). */
int atomic_file_begin(atomic_file *af, const char *path, int want_stream,
                      promoe_err *err);

/* Flushes and closes the stream (if any), syncs, renames onto the final
 * path.  Frees the names whether it succeeds or not. */
int atomic_file_commit(atomic_file *af, promoe_err *err);

/* Closes and removes the temporary file; safe to call after a failed
 * commit or twice. */
void atomic_file_abort(atomic_file *af);

/* Removes every temporary file begun and not yet committed or aborted.
 * Async-signal-safe (unlink only): for a handler of SIGINT, SIGTERM and
 * SIGHUP that then lets the signal end the process. */
void atomic_file_remove_pending(void);

#endif
