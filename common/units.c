#include "common/units.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

static const struct { const char *suffix; double bytes; } units[] = {
    {"B", 1},        {"KB", 1e3},         {"MB", 1e6},            {"GB", 1e9},  {"TB", 1e12},
    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
};

int units_parse_bytes(const char *s, double *bytes, int *had_unit, promoe_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0) || !isfinite(v))
        return promoe_err_set(err, "'%s' is not a positive size", s);
    double unit = 1;
    if (*end) {
        unit = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strcasecmp(end, units[i].suffix) == 0)
                unit = units[i].bytes;
        if (unit == 0)
            return promoe_err_set(err, "'%s': unknown unit '%s' (B, KB, MB, GB, TB, KiB, MiB, "
                                  "GiB, TiB)", s, end);
    }
    if (had_unit)
        *had_unit = *end != '\0';
    *bytes = v * unit;
    return 0;
}
