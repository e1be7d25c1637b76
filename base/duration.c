/*
 * duration.c - "500ms" / "2s" / "1m" / "1h" (duration.h).
 */
#include "rollcall/duration.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DUR_S 1000ULL
#define DUR_M (60 * DUR_S)
#define DUR_H (60 * DUR_M)

static const struct {
    const char *unit;
    uint64_t ms;
} units[] = {{"", 1}, {"ms", 1}, {"s", DUR_S}, {"m", DUR_M}, {"h", DUR_H}};

int rc_duration_from_text(const char *s, size_t len, uint64_t *ret_ms)
{
    uint64_t v = 0;
    size_t i = 0;

    if (s == NULL || len == 0 || s[0] < '0' || s[0] > '9')
        return -EINVAL;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        size_t ulen = strlen(units[u].unit);

        if (len - i != ulen || memcmp(s + i, units[u].unit, ulen) != 0)
            continue;
        if (v > UINT64_MAX / units[u].ms)
            return -EINVAL;
        *ret_ms = v * units[u].ms;
        return 0;
    }
    return -EINVAL;
}

void rc_duration_to_text(uint64_t ms, char *out, size_t outlen)
{
    if (ms != 0 && ms % DUR_H == 0)
        snprintf(out, outlen, "%lluh", (unsigned long long)(ms / DUR_H));
    else if (ms != 0 && ms % DUR_M == 0)
        snprintf(out, outlen, "%llum", (unsigned long long)(ms / DUR_M));
    else if (ms != 0 && ms % DUR_S == 0)
        snprintf(out, outlen, "%llus", (unsigned long long)(ms / DUR_S));
    else
        snprintf(out, outlen, "%llums", (unsigned long long)ms);
}
