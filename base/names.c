/*
 * names.c - node and host name rules (names.h).
 */
#include "rollcall/names.h"

#include <string.h>

static bool alive_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static bool host_char(char c)
{
    return alive_char(c) || c == '.' || c == ':';
}

bool rc_host_valid(const char *s, size_t len)
{
    if (len > RC_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!host_char(s[i]))
            return false;
    return true;
}

bool rc_node_name_valid(const char *name)
{
    const char *at;
    size_t i, len;

    if (name == NULL)
        return false;
    len = strnlen(name, RC_NAME_MAX + 1);
    at = memchr(name, '@', len);
    if (len > RC_NAME_MAX || at == NULL || at == name || at + 1 == name + len)
        return false;
    for (i = 0; name + i < at; i++)
        if (!alive_char(name[i]))
            return false;
    for (i = (size_t)(at - name) + 1; i < len; i++)
        if (!host_char(name[i])) /* also rejects a second '@' */
            return false;
    return true;
}
