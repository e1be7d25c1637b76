/*
 * err.c - rc_seterr (err.h), shared by everything that reports a reason.
 */
#include "rollcall/err.h"

#include <stdarg.h>
#include <stdio.h>

void rc_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
