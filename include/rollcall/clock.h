/*
 * clock.h - the clocks (base/clock.c): monotonic for intervals and timeouts,
 * wall (unix time) for logs and registry entries. libc only, never fails:
 * clock_gettime on these clocks cannot fail on Linux.
 */
#ifndef ROLLCALL_CLOCK_H
#define ROLLCALL_CLOCK_H

#include <stdint.h>

uint64_t rc_now_mono_ms(void); /* CLOCK_MONOTONIC, milliseconds */
uint64_t rc_now_mono_us(void); /* CLOCK_MONOTONIC, microseconds */
int64_t rc_now_wall_ms(void);  /* CLOCK_REALTIME, unix milliseconds */

#endif
