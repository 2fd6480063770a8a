/* clock.h - the one clock that timings, progress lines and rates read. */
#ifndef PROMOE_COMMON_CLOCK_H
#define PROMOE_COMMON_CLOCK_H

/* Seconds on the monotonic clock (from an arbitrary origin). */
double clock_now_s(void);

#endif
