/*
 * clock.c - the monotonic and wall clocks (clock.h).
 */
#include "rollcall/clock.h"

#include <time.h>

uint64_t rc_now_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t rc_now_mono_ms(void)
{
    return rc_now_mono_us() / 1000;
}

int64_t rc_now_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
