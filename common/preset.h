/* preset.h - data files of named settings (model shapes, hardware), INI
 * with one section, read with libinih into a struct through a key table.
 *
 * A preset named NAME of kind KIND ("models", "hardware") is found as
 * KIND/NAME.ini under $PROMOE_DATADIR, then the source tree, then the
 * installed data folder; a value containing '/' or ending in .ini is a
 * path.  Every key is typed and range-checked, and errors read
 * "FILE:LINE: problem".  The same table serves --set KEY=VALUE overrides.
 */
#ifndef PROMOE_COMMON_PRESET_H
#define PROMOE_COMMON_PRESET_H

#include <stddef.h>

#include "common/error.h"

enum preset_type { PRESET_INT, PRESET_DOUBLE, PRESET_STRING };

typedef struct preset_key {
    const char *key;
    enum preset_type type;
    size_t offset;     /* into the destination struct */
    size_t size;       /* PRESET_STRING: buffer size */
    double lo, hi;     /* numeric range, inclusive */
    int required;
} preset_key;

typedef struct preset_kind {
    const char *folder;   /* "models" */
    const char *section;  /* "model" */
    const preset_key *keys;
    size_t num_keys;
} preset_kind;

/* Returned when a name is no preset (and no path): a wrong command line,
 * where -1 is a preset file that does not read. */
enum { PRESET_UNKNOWN = -2 };

/* Fills *out (zeroed first) from the preset; checks required keys.  0, -1
 * (a bad file) or PRESET_UNKNOWN, with err. */
int preset_load(const preset_kind *kind, const char *name_or_path, void *out, promoe_err *err);

/* Sets key of *out from the text value with the same checks; the error
 * names the key ("stride = '0' is not an integer in [1, 1024]"). */
int preset_assign(const preset_kind *kind, const char *key, const char *value, void *out,
                  promoe_err *err);

/* Applies one "KEY=VALUE" (as --set says it) to *out with the same checks. */
int preset_set(const preset_kind *kind, const char *assignment, void *out, promoe_err *err);

/* Names of the presets of this kind found, comma-separated. */
void preset_list(const preset_kind *kind, char *buf, size_t len);

#endif
