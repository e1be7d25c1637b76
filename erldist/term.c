/*
 * term.c - the Erlang external term format, bounded (include/rollcall/term.h).
 *
 * Everything the distribution layer reads from a peer goes through this
 * decoder, so it is written for hostile input: a cursor over the caller's
 * bytes, no allocation, every length compared with the bytes left before it
 * is used (a length is never multiplied or added to before that comparison,
 * so nothing overflows), and each public call works on a copy of the cursor
 * that it commits only on success.
 *
 * rc_term_skip validates a whole term the way OTP's own decoder would accept
 * it (docs/protocol.md section 6): atoms are at most 255 characters of valid UTF-8
 * (or latin1), BIT_BINARY bit counts, big-number signs and float values are
 * checked, NEW_FUN's inner fields must end exactly at its Size. It does not
 * look for duplicate map keys (that would need term comparison; OTP rejects
 * them, we only drop such a packet as "not for us").
 *
 * Recursion: containers recurse once per nesting level and give -ELOOP past
 * RC_TERM_MAX_DEPTH, so the stack stays bounded. A list's tail is the rest of
 * the same list, so it is followed in a loop at the list's own level: an
 * improper chain [a | [b | [c | ...]]] costs no depth. Before a container's
 * elements are walked its count is compared with the bytes left (every term
 * is at least one byte), so a claimed 2^32 elements fails at once.
 */
#include <errno.h>
#include <string.h>

#include "rollcall/term.h"
#include "rollcall/text.h"

#define ATOM_CHARS_MAX 255 /* OTP's MAX_ATOM_CHARACTERS */
#define REF_IDS_MAX 5      /* OTP's ERTS_MAX_REF_NUMBERS */

/* ---- reading primitives (c->pos <= c->len always holds) ---- */

static size_t left(const struct rc_term_dec *c)
{
    return c->len - c->pos;
}

static int take(struct rc_term_dec *c, size_t n)
{
    if (n > left(c))
        return -EMSGSIZE;
    c->pos += n;
    return 0;
}

static int get_u8(struct rc_term_dec *c, uint8_t *v)
{
    if (left(c) < 1)
        return -EMSGSIZE;
    *v = c->buf[c->pos++];
    return 0;
}

static int get_u16(struct rc_term_dec *c, uint16_t *v)
{
    const uint8_t *p = c->buf + c->pos;

    if (left(c) < 2)
        return -EMSGSIZE;
    *v = (uint16_t)(p[0] << 8 | p[1]);
    c->pos += 2;
    return 0;
}

static int get_u32(struct rc_term_dec *c, uint32_t *v)
{
    const uint8_t *p = c->buf + c->pos;

    if (left(c) < 4)
        return -EMSGSIZE;
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    c->pos += 4;
    return 0;
}

/* A public call's private cursor; NULL-safe against a cursor past its end. */
static int begin(const struct rc_term_dec *d, struct rc_term_dec *c)
{
    if (d->pos > d->len)
        return -EMSGSIZE;
    *c = *d;
    return 0;
}

/* ---- atoms ---- */

/* Characters in strict UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF, as OTP checks atom text), or -1; the one decoder is base's. */
static long utf8_chars(const uint8_t *s, size_t n)
{
    long chars = 0;
    size_t i = 0;

    while (i < n) {
        size_t k = rc_utf8_decode(s + i, n - i, NULL);

        if (k == 0)
            return -1;
        i += k;
        chars++;
    }
    return chars;
}

static bool is_atom_tag(int tag)
{
    return tag == RC_TAG_ATOM || tag == RC_TAG_SMALL_ATOM || tag == RC_TAG_ATOM_UTF8 ||
           tag == RC_TAG_SMALL_ATOM_UTF8;
}

/* Reads one atom term, tag included. out (may be NULL) receives the name as
 * UTF-8, latin1 atoms converted, NUL-terminated; *ret_len its length. */
static int atom_term(struct rc_term_dec *c, char *out, size_t outlen, size_t *ret_len)
{
    struct rc_term_dec a = *c;
    const uint8_t *s;
    uint8_t tag, n8;
    uint16_t n16;
    size_t n, outn;
    int r;

    if ((r = get_u8(&a, &tag)) < 0)
        return r;
    if (!is_atom_tag(tag))
        return -EPROTO;
    if (tag == RC_TAG_SMALL_ATOM || tag == RC_TAG_SMALL_ATOM_UTF8) {
        r = get_u8(&a, &n8);
        n = n8;
    } else {
        r = get_u16(&a, &n16);
        n = n16;
    }
    if (r < 0)
        return r;
    s = a.buf + a.pos;
    if ((r = take(&a, n)) < 0)
        return r;

    if (tag == RC_TAG_ATOM_UTF8 || tag == RC_TAG_SMALL_ATOM_UTF8) {
        long chars = n <= RC_TERM_ATOM_MAX ? utf8_chars(s, n) : -1;

        if (chars < 0 || chars > ATOM_CHARS_MAX)
            return -EPROTO;
        outn = n;
    } else {
        if (n > ATOM_CHARS_MAX)
            return -EPROTO;
        outn = n;
        for (size_t i = 0; i < n; i++)
            outn += s[i] >= 0x80;
    }

    if (out != NULL) {
        size_t o = 0;

        if (outn >= outlen)
            return -EMSGSIZE;
        if (outn == n) {
            memcpy(out, s, n);
        } else {
            for (size_t i = 0; i < n; i++) {
                if (s[i] < 0x80) {
                    out[o++] = (char)s[i];
                } else {
                    out[o++] = (char)(0xC0 | s[i] >> 6);
                    out[o++] = (char)(0x80 | (s[i] & 0x3F));
                }
            }
        }
        out[outn] = '\0';
    }
    if (ret_len != NULL)
        *ret_len = outn;
    *c = a;
    return 0;
}

/* ---- skipping ---- */

static int skip_term(struct rc_term_dec *c, unsigned level);

/* n terms one level down. Every term is at least one byte, so a count larger
 * than the bytes left is refused before the walk. */
static int skip_terms(struct rc_term_dec *c, unsigned level, uint64_t n)
{
    int r;

    if (level >= RC_TERM_MAX_DEPTH)
        return -ELOOP;
    if (n > left(c))
        return -EMSGSIZE;
    for (uint64_t i = 0; i < n; i++) {
        if ((r = skip_term(c, level + 1)) < 0)
            return r;
    }
    return 0;
}

/* Skips a term that must be an integer (fun indices, export arities). */
static int skip_integer(struct rc_term_dec *c, unsigned level)
{
    int tag = rc_term_peek_tag(c);

    if (tag < 0)
        return tag;
    if (tag != RC_TAG_SMALL_INTEGER && tag != RC_TAG_INTEGER && tag != RC_TAG_SMALL_BIG &&
        tag != RC_TAG_LARGE_BIG)
        return -EPROTO;
    return skip_term(c, level);
}

static int skip_pid(struct rc_term_dec *c, unsigned level)
{
    int tag = rc_term_peek_tag(c);

    if (tag < 0)
        return tag;
    if (tag != RC_TAG_NEW_PID && tag != RC_TAG_PID)
        return -EPROTO;
    return skip_term(c, level);
}

/* NEW_FUN after its tag: Size:32 (counting itself) Arity:8 Uniq:16 Index:32
 * NumFree:32 Module OldIndex OldUniq Pid FreeVars... ending exactly at Size. */
static int skip_new_fun(struct rc_term_dec *c, unsigned level)
{
    struct rc_term_dec f = *c;
    uint32_t size, nfree;
    int r;

    if (level >= RC_TERM_MAX_DEPTH)
        return -ELOOP;
    if ((r = get_u32(&f, &size)) < 0)
        return r;
    if (size < 4 + 1 + 16 + 4 + 4)
        return -EPROTO;
    if (size - 4 > left(&f))
        return -EMSGSIZE;
    f.len = c->pos + size;
    if ((r = take(&f, 1 + 16 + 4)) < 0 || (r = get_u32(&f, &nfree)) < 0 ||
        (r = atom_term(&f, NULL, 0, NULL)) < 0 || (r = skip_integer(&f, level + 1)) < 0 ||
        (r = skip_integer(&f, level + 1)) < 0 || (r = skip_pid(&f, level + 1)) < 0 ||
        (r = skip_terms(&f, level, nfree)) < 0)
        return r == -EMSGSIZE ? -EPROTO : r; /* the inside overran Size */
    if (f.pos != f.len)
        return -EPROTO;
    c->pos = f.pos;
    return 0;
}

/* FUN (removed from OTP 23, still in the format): NumFree:32 Pid Module Index
 * Uniq FreeVars... */
static int skip_old_fun(struct rc_term_dec *c, unsigned level)
{
    uint32_t nfree;
    int r;

    if (level >= RC_TERM_MAX_DEPTH)
        return -ELOOP;
    if ((r = get_u32(c, &nfree)) < 0 || (r = skip_pid(c, level + 1)) < 0 ||
        (r = atom_term(c, NULL, 0, NULL)) < 0 || (r = skip_integer(c, level + 1)) < 0 ||
        (r = skip_integer(c, level + 1)) < 0)
        return r;
    return skip_terms(c, level, nfree);
}

/* Node atom then fixed-size fields (pids, ports, old references). */
static int skip_node_and(struct rc_term_dec *c, size_t fixed)
{
    int r = atom_term(c, NULL, 0, NULL);

    return r < 0 ? r : take(c, fixed);
}

/* NEWER_REFERENCE / NEW_REFERENCE after the tag; ids and creation optional. */
static int ref_body(struct rc_term_dec *c, int tag, size_t *ret_atom, uint32_t *ret_creation,
                    uint32_t ids[REF_IDS_MAX], uint32_t *ret_nids)
{
    uint16_t n;
    uint32_t creation = 0, id[REF_IDS_MAX];
    uint8_t cr8;
    int r;

    if ((r = get_u16(c, &n)) < 0)
        return r;
    if (n < 1 || n > REF_IDS_MAX)
        return -EPROTO;
    if (ret_atom != NULL)
        *ret_atom = c->pos;
    if ((r = atom_term(c, NULL, 0, NULL)) < 0)
        return r;
    if (tag == RC_TAG_NEWER_REFERENCE) {
        r = get_u32(c, &creation);
    } else {
        r = get_u8(c, &cr8);
        creation = cr8;
    }
    if (r < 0)
        return r;
    for (unsigned i = 0; i < n; i++) {
        if ((r = get_u32(c, &id[i])) < 0)
            return r;
    }
    if (ids != NULL) {
        memcpy(ids, id, n * sizeof(id[0]));
        *ret_creation = creation;
        *ret_nids = n;
    }
    return 0;
}

static int skip_term(struct rc_term_dec *c, unsigned level)
{
    uint8_t tag, u8;
    uint16_t u16;
    uint32_t u32;
    int r;

    for (;;) {
        if ((r = get_u8(c, &tag)) < 0)
            return r;
        switch (tag) {
        case RC_TAG_NIL:
            return 0;
        case RC_TAG_SMALL_INTEGER:
            return take(c, 1);
        case RC_TAG_INTEGER:
            return take(c, 4);
        case RC_TAG_NEW_FLOAT:
            if (left(c) < 8)
                return -EMSGSIZE;
            /* OTP refuses NaN and infinities: exponent all ones. */
            if ((c->buf[c->pos] & 0x7F) == 0x7F && (c->buf[c->pos + 1] & 0xF0) == 0xF0)
                return -EPROTO;
            return take(c, 8);
        case RC_TAG_FLOAT:
            return take(c, 31);
        case RC_TAG_ATOM:
        case RC_TAG_SMALL_ATOM:
        case RC_TAG_ATOM_UTF8:
        case RC_TAG_SMALL_ATOM_UTF8:
            c->pos--;
            return atom_term(c, NULL, 0, NULL);
        case RC_TAG_STRING:
            if ((r = get_u16(c, &u16)) < 0)
                return r;
            return take(c, u16);
        case RC_TAG_BINARY:
            if ((r = get_u32(c, &u32)) < 0)
                return r;
            return take(c, u32);
        case RC_TAG_BIT_BINARY:
            if ((r = get_u32(c, &u32)) < 0 || (r = get_u8(c, &u8)) < 0)
                return r;
            if ((u8 == 0) != (u32 == 0) || u8 > 8)
                return -EPROTO;
            return take(c, u32);
        case RC_TAG_SMALL_BIG:
            if ((r = get_u8(c, &u8)) < 0 || (r = get_u8(c, &tag)) < 0)
                return r;
            return tag > 1 ? -EPROTO : take(c, u8);
        case RC_TAG_LARGE_BIG:
            if ((r = get_u32(c, &u32)) < 0 || (r = get_u8(c, &tag)) < 0)
                return r;
            return tag > 1 ? -EPROTO : take(c, u32);
        case RC_TAG_NEW_PID:
            return skip_node_and(c, 4 + 4 + 4);
        case RC_TAG_PID:
            return skip_node_and(c, 4 + 4 + 1);
        case RC_TAG_NEW_PORT:
            return skip_node_and(c, 4 + 4);
        case RC_TAG_V4_PORT:
            return skip_node_and(c, 8 + 4);
        case RC_TAG_PORT:
            return skip_node_and(c, 4 + 1);
        case RC_TAG_REFERENCE:
            return skip_node_and(c, 4 + 1);
        case RC_TAG_NEWER_REFERENCE:
        case RC_TAG_NEW_REFERENCE:
            return ref_body(c, tag, NULL, NULL, NULL, NULL);
        case RC_TAG_SMALL_TUPLE:
            if ((r = get_u8(c, &u8)) < 0)
                return r;
            return skip_terms(c, level, u8);
        case RC_TAG_LARGE_TUPLE:
            if ((r = get_u32(c, &u32)) < 0)
                return r;
            return skip_terms(c, level, u32);
        case RC_TAG_MAP:
            if ((r = get_u32(c, &u32)) < 0)
                return r;
            return skip_terms(c, level, 2 * (uint64_t)u32);
        case RC_TAG_LIST:
            if ((r = get_u32(c, &u32)) < 0)
                return r;
            if (u32 >= left(c)) /* the elements and a tail */
                return -EMSGSIZE;
            if ((r = skip_terms(c, level, u32)) < 0)
                return r;
            continue; /* the tail, at this list's own level */
        case RC_TAG_EXPORT:
            if ((r = atom_term(c, NULL, 0, NULL)) < 0 || (r = atom_term(c, NULL, 0, NULL)) < 0)
                return r;
            return skip_integer(c, level);
        case RC_TAG_NEW_FUN:
            return skip_new_fun(c, level);
        case RC_TAG_FUN:
            return skip_old_fun(c, level);
        default: /* COMPRESSED, ATOM_CACHE_REF, LOCAL, unknown */
            return -EPROTO;
        }
    }
}

/* ---- public decoder ---- */

int rc_term_dec_version(struct rc_term_dec *d)
{
    struct rc_term_dec c;
    uint8_t v;
    int r;

    if ((r = begin(d, &c)) < 0 || (r = get_u8(&c, &v)) < 0)
        return r;
    if (v != RC_TAG_VERSION)
        return -EPROTO;
    d->pos = c.pos;
    return 0;
}

int rc_term_peek_tag(const struct rc_term_dec *d)
{
    if (d->pos >= d->len)
        return -EMSGSIZE;
    return d->buf[d->pos];
}

int rc_term_skip(struct rc_term_dec *d)
{
    struct rc_term_dec c;
    int r;

    if ((r = begin(d, &c)) < 0 || (r = skip_term(&c, 0)) < 0)
        return r;
    d->pos = c.pos;
    return 0;
}

int rc_term_dec_tuple(struct rc_term_dec *d, uint32_t *ret_arity)
{
    struct rc_term_dec c;
    uint8_t tag, a8 = 0;
    uint32_t arity = 0;
    int r;

    if ((r = begin(d, &c)) < 0 || (r = get_u8(&c, &tag)) < 0)
        return r;
    if (tag == RC_TAG_SMALL_TUPLE) {
        r = get_u8(&c, &a8);
        arity = a8;
    } else if (tag == RC_TAG_LARGE_TUPLE) {
        r = get_u32(&c, &arity);
    } else {
        return -EPROTO;
    }
    if (r < 0)
        return r;
    if (arity > left(&c))
        return -EMSGSIZE;
    *ret_arity = arity;
    d->pos = c.pos;
    return 0;
}

int rc_term_dec_list(struct rc_term_dec *d, uint32_t *ret_len, bool *ret_has_tail)
{
    struct rc_term_dec c;
    uint8_t tag;
    uint32_t n = 0;
    int r;

    if ((r = begin(d, &c)) < 0 || (r = get_u8(&c, &tag)) < 0)
        return r;
    if (tag == RC_TAG_LIST) {
        if ((r = get_u32(&c, &n)) < 0)
            return r;
        if (n >= left(&c))
            return -EMSGSIZE;
    } else if (tag != RC_TAG_NIL) {
        return -EPROTO;
    }
    *ret_len = n;
    *ret_has_tail = tag == RC_TAG_LIST;
    d->pos = c.pos;
    return 0;
}

int rc_term_dec_atom(struct rc_term_dec *d, char *out, size_t outlen, size_t *ret_len)
{
    struct rc_term_dec c;
    int r;

    if ((r = begin(d, &c)) < 0 || (r = atom_term(&c, out, outlen, ret_len)) < 0)
        return r;
    d->pos = c.pos;
    return 0;
}

int rc_term_dec_long(struct rc_term_dec *d, int64_t *ret)
{
    struct rc_term_dec c;
    uint8_t tag, n, sign;
    uint32_t u32;
    uint64_t mag = 0;
    int64_t v;
    int r;

    if ((r = begin(d, &c)) < 0 || (r = get_u8(&c, &tag)) < 0)
        return r;
    switch (tag) {
    case RC_TAG_SMALL_INTEGER:
        if ((r = get_u8(&c, &n)) < 0)
            return r;
        v = n;
        break;
    case RC_TAG_INTEGER:
        if ((r = get_u32(&c, &u32)) < 0)
            return r;
        v = (int32_t)u32;
        break;
    case RC_TAG_SMALL_BIG:
        if ((r = get_u8(&c, &n)) < 0 || (r = get_u8(&c, &sign)) < 0)
            return r;
        if (n > left(&c))
            return -EMSGSIZE;
        if (sign > 1)
            return -EPROTO;
        for (unsigned i = n; i > 0; i--) { /* little-endian digits */
            if ((mag >> 56) != 0)
                return -EPROTO; /* another digit: 64 bits do not hold it */
            mag = mag << 8 | c.buf[c.pos + i - 1];
        }
        c.pos += n;
        if (mag > (uint64_t)INT64_MAX + sign)
            return -EPROTO;
        v = sign != 0 ? (int64_t)(0 - mag) : (int64_t)mag;
        break;
    default:
        return -EPROTO;
    }
    *ret = v;
    d->pos = c.pos;
    return 0;
}

int rc_term_dec_ref(struct rc_term_dec *d, char *node, size_t nodelen, uint32_t *ret_creation,
                    uint32_t ids[5], uint32_t *ret_nids)
{
    struct rc_term_dec c, a;
    uint8_t tag;
    uint32_t creation, id[REF_IDS_MAX], nids;
    size_t atom_pos;
    int r;

    if ((r = begin(d, &c)) < 0 || (r = get_u8(&c, &tag)) < 0)
        return r;
    if (tag != RC_TAG_NEWER_REFERENCE && tag != RC_TAG_NEW_REFERENCE)
        return -EPROTO;
    if ((r = ref_body(&c, tag, &atom_pos, &creation, id, &nids)) < 0)
        return r;
    if (node != NULL) { /* copied last, so a failure writes nothing */
        a = c;
        a.pos = atom_pos;
        if ((r = atom_term(&a, node, nodelen, NULL)) < 0)
            return r;
    }
    memcpy(ids, id, nids * sizeof(id[0]));
    *ret_creation = creation;
    *ret_nids = nids;
    d->pos = c.pos;
    return 0;
}

/* ---- encoder ---- */

void rc_term_put_raw(struct rc_term_enc *e, const void *bytes, size_t n)
{
    if (e->err != 0)
        return;
    if (n > e->cap - e->len) {
        e->err = -EMSGSIZE;
        return;
    }
    if (n != 0)
        memcpy(e->buf + e->len, bytes, n);
    e->len += n;
}

void rc_term_put_u8(struct rc_term_enc *e, uint8_t v)
{
    rc_term_put_raw(e, &v, 1);
}

void rc_term_put_u16(struct rc_term_enc *e, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

    rc_term_put_raw(e, b, sizeof(b));
}

void rc_term_put_u32(struct rc_term_enc *e, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    rc_term_put_raw(e, b, sizeof(b));
}

void rc_term_put_version(struct rc_term_enc *e)
{
    rc_term_put_u8(e, RC_TAG_VERSION);
}

void rc_term_put_tuple(struct rc_term_enc *e, uint32_t arity)
{
    if (arity <= UINT8_MAX) {
        rc_term_put_u8(e, RC_TAG_SMALL_TUPLE);
        rc_term_put_u8(e, (uint8_t)arity);
    } else {
        rc_term_put_u8(e, RC_TAG_LARGE_TUPLE);
        rc_term_put_u32(e, arity);
    }
}

void rc_term_put_list(struct rc_term_enc *e, uint32_t n)
{
    rc_term_put_u8(e, RC_TAG_LIST);
    rc_term_put_u32(e, n);
}

void rc_term_put_nil(struct rc_term_enc *e)
{
    rc_term_put_u8(e, RC_TAG_NIL);
}

/* A name longer than RC_TERM_ATOM_MAX bytes is an error no peer would decode:
 * it sets err like an overflow. */
void rc_term_put_atom(struct rc_term_enc *e, const char *name)
{
    size_t n = strlen(name);

    if (n > RC_TERM_ATOM_MAX) {
        if (e->err == 0)
            e->err = -EMSGSIZE;
        return;
    }
    if (n <= UINT8_MAX) {
        rc_term_put_u8(e, RC_TAG_SMALL_ATOM_UTF8);
        rc_term_put_u8(e, (uint8_t)n);
    } else {
        rc_term_put_u8(e, RC_TAG_ATOM_UTF8);
        rc_term_put_u16(e, (uint16_t)n);
    }
    rc_term_put_raw(e, name, n);
}

void rc_term_put_long(struct rc_term_enc *e, int64_t v)
{
    uint8_t digits[8];
    uint64_t mag;
    uint8_t n = 0;

    if (v >= 0 && v <= UINT8_MAX) {
        rc_term_put_u8(e, RC_TAG_SMALL_INTEGER);
        rc_term_put_u8(e, (uint8_t)v);
        return;
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
        rc_term_put_u8(e, RC_TAG_INTEGER);
        rc_term_put_u32(e, (uint32_t)(int32_t)v);
        return;
    }
    mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    while (mag != 0) {
        digits[n++] = (uint8_t)mag;
        mag >>= 8;
    }
    rc_term_put_u8(e, RC_TAG_SMALL_BIG);
    rc_term_put_u8(e, n);
    rc_term_put_u8(e, v < 0);
    rc_term_put_raw(e, digits, n);
}

void rc_term_put_pid(struct rc_term_enc *e, const char *node, uint32_t id, uint32_t serial,
                     uint32_t creation)
{
    rc_term_put_u8(e, RC_TAG_NEW_PID);
    rc_term_put_atom(e, node);
    rc_term_put_u32(e, id);
    rc_term_put_u32(e, serial);
    rc_term_put_u32(e, creation);
}

/* nids outside 1..5 sets err = -EINVAL (no peer would decode it). */
void rc_term_put_ref(struct rc_term_enc *e, const char *node, uint32_t creation,
                     const uint32_t *ids, uint32_t nids)
{
    if (nids < 1 || nids > REF_IDS_MAX) {
        if (e->err == 0)
            e->err = -EINVAL;
        return;
    }
    rc_term_put_u8(e, RC_TAG_NEWER_REFERENCE);
    rc_term_put_u16(e, (uint16_t)nids);
    rc_term_put_atom(e, node);
    rc_term_put_u32(e, creation);
    for (uint32_t i = 0; i < nids; i++)
        rc_term_put_u32(e, ids[i]);
}
