/*
 * isotime.c - ISO-8601 UTC time format and parse (isotime.h), by H.
 * Hinnant's civil-from-days algorithms: no timegm, no locale, no TZ.
 */
#include "rollcall/isotime.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Year 0000..9999 in milliseconds; what the text format can hold. */
#define RC_TIME_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define RC_TIME_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

void rc_time_format_iso(int64_t unix_ms, char out[RC_ISOTIME_LEN])
{
    int64_t days, ms_of_day, y, era;
    unsigned doe, yoe, doy, mp, d, m;

    if (unix_ms < RC_TIME_MIN_MS)
        unix_ms = RC_TIME_MIN_MS;
    if (unix_ms > RC_TIME_MAX_MS)
        unix_ms = RC_TIME_MAX_MS;
    days = unix_ms / 86400000;
    ms_of_day = unix_ms % 86400000;
    if (ms_of_day < 0) {
        ms_of_day += 86400000;
        days--;
    }
    /* civil_from_days */
    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = (unsigned)(days - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    /* The "% 10000" / "% 100" change nothing (the clamp above bounds every
     * field); they let the compiler see that 32 bytes always suffice. */
    snprintf(out, RC_ISOTIME_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y % 10000,
             m % 100, d % 100, (unsigned)(ms_of_day / 3600000) % 100,
             (unsigned)(ms_of_day / 60000 % 60), (unsigned)(ms_of_day / 1000 % 60),
             (unsigned)(ms_of_day % 1000));
}

/* Reads exactly n digits at s[*i]. */
static bool digits(const char *s, size_t len, size_t *i, unsigned n, unsigned *ret)
{
    unsigned v = 0;

    if (len - *i < n)
        return false;
    for (unsigned k = 0; k < n; k++) {
        char c = s[*i + k];

        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *i += n;
    *ret = v;
    return true;
}

static bool lit(const char *s, size_t len, size_t *i, const char *any_of)
{
    if (*i >= len || s[*i] == '\0' || strchr(any_of, s[*i]) == NULL)
        return false;
    (*i)++;
    return true;
}

int rc_time_parse_iso(const char *s, size_t len, int64_t *ret_unix_ms)
{
    static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0, dim;
    size_t i = 0;
    int64_t t;

    if (s == NULL)
        return -EINVAL;
    /* "T" per ISO 8601; "t" and " " as RFC 3339 allows (Elixir's
     * DateTime.to_string writes a space). */
    if (!digits(s, len, &i, 4, &y) || !lit(s, len, &i, "-") || !digits(s, len, &i, 2, &mo) ||
        !lit(s, len, &i, "-") || !digits(s, len, &i, 2, &d) || !lit(s, len, &i, "Tt ") ||
        !digits(s, len, &i, 2, &h) || !lit(s, len, &i, ":") || !digits(s, len, &i, 2, &mi) ||
        !lit(s, len, &i, ":") || !digits(s, len, &i, 2, &sec))
        return -EINVAL;
    if (i < len && s[i] == '.') {
        unsigned nd = 0;

        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
            if (nd < 3)
                ms = ms * 10 + (unsigned)(s[i] - '0');
        if (nd == 0 || nd > 9)
            return -EINVAL;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z'))
        i++;
    else if (len - i == 6 && memcmp(s + i, "+00:00", 6) == 0)
        i += 6;
    else
        return -EINVAL;
    if (i != len)
        return -EINVAL;

    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    dim = mdays[mo - 1];
    if (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        dim = 29;
    if (d < 1 || d > dim)
        return -EINVAL;
    /* a leap second :60 counts as the next second's start, as timegm does;
     * past the last formattable instant (a :60 on 9999-12-31) is refused so
     * that every accepted time formats back to itself */
    t = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL + ms;
    if (t > RC_TIME_MAX_MS)
        return -EINVAL;
    *ret_unix_ms = t;
    return 0;
}
