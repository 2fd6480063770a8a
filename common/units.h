/* units.h - sizes with units, as users type them ("12GiB", "500MB", "4096"). */
#ifndef PROMOE_COMMON_UNITS_H
#define PROMOE_COMMON_UNITS_H

#include "common/error.h"

/* Parses a positive number with an optional unit (B, KB, MB, GB, TB, KiB,
 * MiB, GiB, TiB; case-insensitive; none = bytes) into *bytes.  *had_unit
 * (may be NULL) tells whether a unit was written. */
int units_parse_bytes(const char *s, double *bytes, int *had_unit, promoe_err *err);

#endif
