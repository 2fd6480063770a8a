/* csv.h - writing CSV fields (RFC 4180). */
#ifndef PROMOE_COMMON_CSV_H
#define PROMOE_COMMON_CSV_H

#include <stdio.h>

/* Writes s as one field, quoted when it holds a comma, a quote or a line
 * break (a predictor spec with several options does). */
void csv_write_field(FILE *fp, const char *s);

#endif
