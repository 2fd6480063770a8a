/* fnv1a.h - the 64-bit FNV-1a hash, folded in a piece at a time: the
 * decisions digests (offload/engine.c, sim/hits.c) sum up a
 * run's decisions one by one with it. */
#ifndef PROMOE_COMMON_FNV1A_H
#define PROMOE_COMMON_FNV1A_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_START 14695981039346656037ull

/* h with the n bytes at data folded in.  Inline: a replay folds in every
 * access, and a call a byte-loop apiece took an eighth of its time. */
static inline uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

#endif
