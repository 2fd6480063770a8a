#include "common/registry.h"

#include <stdio.h>
#include <string.h>

/* A struct's first member can be read through a pointer to the struct. */
static const char *name_of(const void *entry)
{
    return *(const char *const *)entry;
}

const void *registry_find(const void *const *table, const char *name)
{
    for (size_t i = 0; table[i]; i++)
        if (strcmp(name_of(table[i]), name) == 0)
            return table[i];
    return NULL;
}

void registry_names(const void *const *table, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; table[i] && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", name_of(table[i]));
}
