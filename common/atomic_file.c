#include "common/atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The temporary files being written now, for atomic_file_remove_pending.
 * A signal handler reads the table: slots are set and cleared whole. */
#define PENDING_MAX 32
static char *volatile pending[PENDING_MAX];

static void pending_add(char *tmp_path)
{
    for (int i = 0; i < PENDING_MAX; i++)
        if (!pending[i]) {
            pending[i] = tmp_path;
            return;
        }
}

static void pending_remove(const char *tmp_path)
{
    for (int i = 0; i < PENDING_MAX; i++)
        if (pending[i] == tmp_path)
            pending[i] = NULL;
}

void atomic_file_remove_pending(void)
{
    for (int i = 0; i < PENDING_MAX; i++) {
        char *p = pending[i];
        if (p)
            unlink(p);
    }
}

int atomic_file_begin(atomic_file *af, const char *path, int want_stream,
                      promoe_err *err)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->final_path = strdup(path);
    af->tmp_path = malloc(n + sizeof ".tmp.XXXXXX");
    if (!af->final_path || !af->tmp_path) {
        atomic_file_abort(af);
        return promoe_err_set(err, "%s: out of memory", path);
    }
    memcpy(af->tmp_path, path, n);
    memcpy(af->tmp_path + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        int e = errno;
        free(af->tmp_path);
        af->tmp_path = NULL;
        atomic_file_abort(af);
        return promoe_err_set(err, "%s: cannot create: %s", path, strerror(e));
    }
    pending_add(af->tmp_path);
    /* mkstemp makes the file 0600; give it the usual umask-derived mode. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    if (want_stream) {
        af->fp = fdopen(fd, "w");
        if (!af->fp) {
            close(fd);
            atomic_file_abort(af);
            return promoe_err_set(err, "%s: cannot open: %s", path, strerror(errno));
        }
    } else {
        close(fd);
    }
    return 0;
}

int atomic_file_commit(atomic_file *af, promoe_err *err)
{
    int rc = 0;
    if (af->fp) {
        if (fflush(af->fp) != 0 || ferror(af->fp) || fsync(fileno(af->fp)) != 0)
            rc = promoe_err_set(err, "%s: write failed: %s", af->final_path,
                                strerror(errno));
        if (fclose(af->fp) != 0 && rc == 0)
            rc = promoe_err_set(err, "%s: write failed: %s", af->final_path,
                                strerror(errno));
        af->fp = NULL;
    }
    if (rc == 0 && rename(af->tmp_path, af->final_path) != 0)
        rc = promoe_err_set(err, "%s: cannot rename into place: %s",
                            af->final_path, strerror(errno));
    if (rc == 0) {
        pending_remove(af->tmp_path);
        free(af->tmp_path);
        af->tmp_path = NULL;
    }
    atomic_file_abort(af);
    return rc;
}

void atomic_file_abort(atomic_file *af)
{
    if (af->fp)
        fclose(af->fp);
    af->fp = NULL;
    if (af->tmp_path) {
        pending_remove(af->tmp_path);
        unlink(af->tmp_path);
    }
    free(af->tmp_path);
    free(af->final_path);
    af->tmp_path = af->final_path = NULL;
}
