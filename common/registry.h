/* registry.h - lookups in the registries of pluggable parts (policies,
 * predictors, importers): NULL-terminated arrays of pointers to structs
 * whose first member is `const char *name`. */
#ifndef PROMOE_COMMON_REGISTRY_H
#define PROMOE_COMMON_REGISTRY_H

#include <stddef.h>

/* The entry called name, or NULL. */
const void *registry_find(const void *const *table, const char *name);
/* The names, comma-separated, into buf. */
void registry_names(const void *const *table, char *buf, size_t len);

#endif
