/* disk_space.h - refusing a write that cannot fit on its file system up
 * front, with a message, rather than failing with "no space left" after
 * minutes of work (and filling the disk for every other user meanwhile). */
#ifndef PROMOE_COMMON_DISK_SPACE_H
#define PROMOE_COMMON_DISK_SPACE_H

#include "common/error.h"

/* Bytes an unprivileged writer may still use on the file system that
 * would hold PATH (its folder's), or -1 if that cannot be found out. */
double disk_free_bytes(const char *path);

/* 0 if `bytes` fit in the space free for PATH (or that is unknown); else
 * -1 with "WHAT needs about X GiB, more than the Y GiB free ...". */
int disk_check(const char *path, double bytes, const char *what, promoe_err *err);

#endif
