/*
 * list.c - building a list() result (store.h): entries and rejects, each
 * array capped at RC_REGISTRY_MAX_ENTRIES, so no backend can forget the
 * bound. Part of the store library; libc only, never logs.
 *
 * A reject keeps the store's raw bytes (cut, not escaped): escaping is the
 * job of whoever shows it, once (the logger, or rc_text_escape).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/store.h"

void rc_reg_list_free(struct rc_reg_list *l)
{
    if (l == NULL)
        return;
    free(l->entries);
    free(l->rejects);
    memset(l, 0, sizeof(*l));
}

/*
 * The capacity of an array holding n elements, built only by grow(): 16, then
 * doubling, at most RC_REGISTRY_MAX_ENTRIES. Derived from n, so the list
 * struct needs no capacity field.
 */
static size_t capacity(size_t n)
{
    size_t c = 16;

    if (n == 0)
        return 0;
    while (c < n)
        c *= 2;
    return c < RC_REGISTRY_MAX_ENTRIES ? c : RC_REGISTRY_MAX_ENTRIES;
}

/* Makes room for one more element in *arr, which holds n. */
static int grow(void **arr, size_t n, size_t elem)
{
    size_t cap;
    void *p;

    if (n >= RC_REGISTRY_MAX_ENTRIES)
        return -E2BIG;
    if (n < capacity(n))
        return 0;
    cap = n == 0 ? 16 : n * 2;
    if (cap > RC_REGISTRY_MAX_ENTRIES)
        cap = RC_REGISTRY_MAX_ENTRIES;
    p = realloc(*arr, cap * elem);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    return 0;
}

bool rc_reg_list_full(const struct rc_reg_list *l)
{
    return l->n >= RC_REGISTRY_MAX_ENTRIES;
}

int rc_reg_list_add(struct rc_reg_list *l, const struct rc_entry *e)
{
    int rv = grow((void **)&l->entries, l->n, sizeof(*l->entries));

    if (rv == -E2BIG && !l->overflow) {
        l->overflow = true;
        memcpy(l->overflow_name, e->name, sizeof(l->overflow_name));
        l->overflow_name[sizeof(l->overflow_name) - 1] = '\0';
    }
    if (rv < 0)
        return rv;
    l->entries[l->n++] = *e;
    return 0;
}

/* How many of len raw bytes to keep in max: all if they fit, else max, moved
 * back to the start of a UTF-8 sequence cut in half (at most 3 bytes). */
static size_t keep_len(const unsigned char *s, size_t len, size_t max)
{
    size_t k = max;

    if (len <= max)
        return len;
    for (size_t back = 0; back < 3 && k > 0 && (s[k] & 0xC0) == 0x80; back++)
        k--;
    return (s[k] & 0xC0) == 0x80 ? max : k; /* not UTF-8 after all: cut at max */
}

int rc_reg_list_reject(struct rc_reg_list *l, const char *what, size_t whatlen, const char *reason)
{
    struct rc_reject *r;
    size_t keep;
    int rv = grow((void **)&l->rejects, l->nrejects, sizeof(*l->rejects));

    if (rv == -E2BIG)
        return 0;
    if (rv < 0)
        return rv;
    r = &l->rejects[l->nrejects++];
    if (what == NULL)
        whatlen = 0;
    keep = keep_len((const unsigned char *)what, whatlen, RC_REJECT_WHAT_MAX);
    if (keep > 0)
        memcpy(r->what, what, keep);
    r->what[keep] = '\0';
    r->whatlen = keep;
    r->cut = keep < whatlen;
    if (reason == NULL)
        reason = "";
    strncpy(r->reason, reason, sizeof(r->reason) - 1);
    r->reason[sizeof(r->reason) - 1] = '\0';
    return 0;
}
