#include "experiments/results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/file_read.h"
#include "common/csv.h"

static int init(results *r)
{
    r->latest = json_object();
    r->order = json_array();
    r->rows_read = 0;
    return r->latest && r->order ? 0 : -1;
}

void results_free(results *r)
{
    json_decref(r->latest);
    json_decref(r->order);
    r->latest = r->order = NULL;
}

/* Files one row: row 0 starts a new run of its point; row i > 0 joins the
 * run being read when it is row i of the same size. */
static void add_row(results *r, json_t *row)
{
    const char *key = json_string_value(json_object_get(row, "point"));
    json_int_t i = json_integer_value(json_object_get(row, "row"));
    json_t *run = json_object_get(r->latest, key);
    if (!run)
        json_array_append_new(r->order, json_string(key));
    if (i == 0) {
        json_object_set_new(r->latest, key, json_pack("[O]", row));
    } else if (run && (json_int_t)json_array_size(run) == i) {
        json_array_append(run, row);
    }
    r->rows_read++;
}

void results_add(results *r, json_t *rows)
{
    for (size_t i = 0; i < json_array_size(rows); i++)
        add_row(r, json_array_get(rows, i));
}

static int valid_row(const json_t *row)
{
    json_t *i = json_object_get(row, "row"), *n = json_object_get(row, "rows");
    return json_is_object(row) && json_is_string(json_object_get(row, "point")) &&
           json_is_string(json_object_get(row, "status")) && json_is_integer(i) &&
           json_is_integer(n) && json_integer_value(i) >= 0 &&
           json_integer_value(i) < json_integer_value(n);
}

/* The file's bytes up to its last newline, NUL-terminated, into *buf (NULL
 * and 0 for a missing file); the whole size into *size. */
static int read_lines(const char *path, char **buf, size_t *end, size_t *size, promoe_err *err)
{
    if (file_read_all(path, buf, size, err) < 0)
        return -1;
    *end = *size;
    while (*end && (*buf)[*end - 1] != '\n')
        (*end)--;
    if (*buf)
        (*buf)[*end] = '\0';
    return 0;
}

int results_load(const char *path, results *r, promoe_err *err)
{
    if (init(r) < 0)
        return promoe_err_set(err, "out of memory");
    char *buf;
    size_t end, size;
    if (read_lines(path, &buf, &end, &size, err) < 0) {
        results_free(r);
        return -1;
    }
    long line = 0;
    for (char *s = buf, *nl; s && (nl = strchr(s, '\n')); s = nl + 1) {
        line++;
        *nl = '\0';
        if (!*s)
            continue;
        json_error_t jerr;
        json_t *row = json_loads(s, 0, &jerr);
        if (!row || !valid_row(row)) {
            json_decref(row);
            free(buf);
            results_free(r);
            return promoe_err_set(err, "%s:%ld: not a results row (%s); remove the line or the "
                                  "file", path, line, row ? "no point, status, row or rows"
                                                          : jerr.text);
        }
        add_row(r, row);
        json_decref(row);
    }
    free(buf);
    return 0;
}

int results_cut_unfinished(const char *path, promoe_err *err)
{
    char *buf;
    size_t end, size;
    if (read_lines(path, &buf, &end, &size, err) < 0)
        return -1;
    free(buf);
    if (end < size && truncate(path, (off_t)end) < 0)
        return promoe_err_set(err, "%s: cannot cut its unfinished last line: %s", path,
                              strerror(errno));
    return 0;
}

json_t *results_complete_run(const results *r, const char *key)
{
    json_t *run = json_object_get(r->latest, key);
    if (!run || !json_array_size(run))
        return NULL;
    json_int_t n = json_integer_value(json_object_get(json_array_get(run, 0), "rows"));
    return (json_int_t)json_array_size(run) == n ? run : NULL;
}

int results_status(const results *r, const char *key)
{
    json_t *run = results_complete_run(r, key);
    if (!run)
        return RESULTS_NONE;
    const char *s = json_string_value(json_object_get(json_array_get(run, 0), "status"));
    return strcmp(s, "ok") == 0 ? RESULTS_OK : RESULTS_FAILED;
}

int results_append(const char *path, json_t *rows, promoe_err *err)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (size_t i = 0; buf && i < json_array_size(rows); i++) {
        char *s = json_dumps(json_array_get(rows, i),
                             JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
        size_t n = s ? strlen(s) : 0;
        if (s && len + n + 1 > cap) {
            while (len + n + 1 > cap)
                cap *= 2;
            char *grown = realloc(buf, cap);
            if (!grown)
                free(buf);
            buf = grown;
        }
        if (!s || !buf) {
            free(s);
            free(buf);
            return promoe_err_set(err, "out of memory");
        }
        memcpy(buf + len, s, n);
        buf[len + n] = '\n';
        len += n + 1;
        free(s);
    }
    if (!buf)
        return promoe_err_set(err, "out of memory");
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    size_t done = 0;
    while (fd >= 0 && done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    int ok = fd >= 0 && done == len && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    free(buf);
    if (!ok)
        return promoe_err_set(err, "%s: cannot append results: %s", path, strerror(saved));
    return 0;
}

static void write_value(FILE *fp, json_t *v)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_STRING: csv_write_field(fp, json_string_value(v)); break;
    case JSON_INTEGER: fprintf(fp, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL:
        snprintf(num, sizeof num, "%.10g", json_real_value(v));
        fputs(num, fp);
        break;
    case JSON_TRUE: fputs("true", fp); break;
    case JSON_FALSE: fputs("false", fp); break;
    default: break; /* null, arrays, objects: an empty field */
    }
}

long long results_write_csv(const results *r, const char *path, promoe_err *err)
{
    /* columns: every key, in the order first seen */
    json_t *cols = json_array(), *seen = json_object();
    size_t i, j;
    json_t *key;
    json_array_foreach(r->order, i, key) {
        json_t *run = results_complete_run(r, json_string_value(key)), *row;
        json_array_foreach(run, j, row) {
            const char *k;
            json_t *v;
            json_object_foreach(row, k, v) {
                if (strcmp(k, "row") && strcmp(k, "rows") && !json_object_get(seen, k)) {
                    json_object_set_new(seen, k, json_true());
                    json_array_append_new(cols, json_string(k));
                }
            }
        }
    }
    json_decref(seen);
    atomic_file af;
    if (atomic_file_begin(&af, path, 1, err) < 0) {
        json_decref(cols);
        return -1;
    }
    json_t *col;
    json_array_foreach(cols, i, col) {
        if (i)
            putc(',', af.fp);
        csv_write_field(af.fp, json_string_value(col));
    }
    putc('\n', af.fp);
    long long written = 0;
    json_array_foreach(r->order, i, key) {
        json_t *run = results_complete_run(r, json_string_value(key)), *row;
        json_array_foreach(run, j, row) {
            size_t c;
            json_array_foreach(cols, c, col) {
                if (c)
                    putc(',', af.fp);
                json_t *v = json_object_get(row, json_string_value(col));
                if (v)
                    write_value(af.fp, v);
            }
            putc('\n', af.fp);
            written++;
        }
    }
    json_decref(cols);
    if (atomic_file_commit(&af, err) < 0)
        return -1;
    return written;
}
