/* memory.h - refusing work that cannot fit in this machine's memory up
 * front, with a message, rather than being killed by the kernel's OOM
 * killer halfway (allocations on Linux succeed lazily and fail on use). */
#ifndef PROMOE_COMMON_MEMORY_H
#define PROMOE_COMMON_MEMORY_H

#include "common/error.h"

/* The machine's physical memory in bytes (0 if unknown). */
double memory_physical_bytes(void);

/* 0 if `bytes` fits in physical memory (or that is unknown); else -1 with
 * "WHAT needs X GiB, more than this machine's Y GiB of memory". */
int memory_check(double bytes, const char *what, promoe_err *err);

#endif
