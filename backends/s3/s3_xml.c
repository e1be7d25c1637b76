/*
 * s3_xml.c - the S3 backend's ListObjectsV2 / <Error> parser (pure, expat).
 *
 * Listings are requested with encoding-type=url so that any key survives
 * XML; elements are matched by local name (servers differ in namespace);
 * responses are capped at S3_RESPONSE_MAX, nesting at 16 levels, a page at
 * S3_PAGE_OBJECTS_MAX objects; no DOCTYPE is accepted. Contract: s3_int.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "rollcall/err.h"
#include "rollcall/backend.h"
#include "rollcall/url.h"

#include "s3_int.h"

enum s3_field {
    S3_F_NONE,
    S3_F_KEY,
    S3_F_LM,
    S3_F_ETAG,
    S3_F_SIZE,
    S3_F_TRUNCATED,
    S3_F_TOKEN,
    S3_F_CODE,
};

struct s3_xml {
    XML_Parser xp;
    struct s3_page *page;
    int depth;
    bool root_list, root_error, in_contents;
    enum s3_field field;
    char text[S3_TOKEN_MAX * 3 + 1]; /* the current leaf's text */
    size_t tlen;
    bool toverflow;
    int rv; /* first error */
    char *why;
    size_t whylen;
};

static const char *s3_local(const XML_Char *name)
{
    const char *c = strrchr(name, ':');

    return c != NULL ? c + 1 : name;
}

static void s3_xml_fail(struct s3_xml *x, int rv, const char *why)
{
    if (x->rv == 0) {
        x->rv = rv;
        rc_seterr(x->why, x->whylen, "%s", why);
    }
    XML_StopParser(x->xp, XML_FALSE);
}

static void XMLCALL s3_xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct s3_xml *x = ud;
    const char *l = s3_local(name);

    (void)attrs;
    x->depth++;
    x->field = S3_F_NONE;
    x->tlen = 0;
    x->toverflow = false;
    if (x->depth > 16) {
        s3_xml_fail(x, -EPROTO, "XML nested too deep");
        return;
    }
    if (x->depth == 1) {
        x->root_list = strcmp(l, "ListBucketResult") == 0;
        x->root_error = strcmp(l, "Error") == 0;
        x->page->is_error = x->root_error;
        if (!x->root_list && !x->root_error)
            s3_xml_fail(x, -EPROTO, "not a ListBucketResult");
        return;
    }
    if (x->root_error) {
        if (x->depth == 2 && strcmp(l, "Code") == 0)
            x->field = S3_F_CODE;
        return;
    }
    if (x->depth == 2) {
        if (strcmp(l, "Contents") == 0) {
            struct s3_object *o;

            if (x->page->n >= S3_PAGE_OBJECTS_MAX) {
                s3_xml_fail(x, -E2BIG, "too many objects in one listing page");
                return;
            }
            if (x->page->n == x->page->cap) {
                size_t cap = x->page->cap != 0 ? x->page->cap * 2 : 64;
                void *p = realloc(x->page->objs, cap * sizeof(*o));

                if (p == NULL) {
                    s3_xml_fail(x, -ENOMEM, "out of memory");
                    return;
                }
                x->page->objs = p;
                x->page->cap = cap;
            }
            o = &x->page->objs[x->page->n++];
            memset(o, 0, sizeof(*o));
            x->in_contents = true;
        } else if (strcmp(l, "IsTruncated") == 0) {
            x->field = S3_F_TRUNCATED;
        } else if (strcmp(l, "NextContinuationToken") == 0) {
            x->field = S3_F_TOKEN;
        }
        return;
    }
    if (x->depth == 3 && x->in_contents) {
        if (strcmp(l, "Key") == 0)
            x->field = S3_F_KEY;
        else if (strcmp(l, "LastModified") == 0)
            x->field = S3_F_LM;
        else if (strcmp(l, "ETag") == 0)
            x->field = S3_F_ETAG;
        else if (strcmp(l, "Size") == 0)
            x->field = S3_F_SIZE;
    }
}

static void XMLCALL s3_xml_text(void *ud, const XML_Char *s, int len)
{
    struct s3_xml *x = ud;

    if (x->field == S3_F_NONE || len <= 0)
        return;
    if ((size_t)len > sizeof(x->text) - 1 - x->tlen) {
        x->toverflow = true;
        return;
    }
    memcpy(x->text + x->tlen, s, (size_t)len);
    x->tlen += (size_t)len;
}

static bool s3_digits(const char *s, size_t len, int64_t *ret)
{
    int64_t v = 0;

    if (len == 0 || len > 18)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return true;
}

static void XMLCALL s3_xml_end(void *ud, const XML_Char *name)
{
    struct s3_xml *x = ud;
    const char *l = s3_local(name);
    struct s3_object *o = x->in_contents && x->page->n > 0 ? &x->page->objs[x->page->n - 1] : NULL;

    x->text[x->tlen] = '\0';
    switch (x->field) {
    case S3_F_NONE:
        break;
    case S3_F_CODE:
        s3_copy(x->page->code, sizeof(x->page->code), x->toverflow ? "?" : x->text);
        break;
    case S3_F_TRUNCATED:
        x->page->truncated = strcmp(x->text, "true") == 0;
        break;
    case S3_F_TOKEN:
        if (x->toverflow || x->tlen > S3_TOKEN_MAX) {
            s3_xml_fail(x, -EPROTO, "continuation token too long");
            return;
        }
        memcpy(x->page->next_token, x->text, x->tlen + 1);
        break;
    case S3_F_KEY: {
        ssize_t d;

        if (o == NULL || o->key != NULL)
            break;
        o->key = malloc(S3_KEY_MAX + 1);
        if (o->key == NULL) {
            s3_xml_fail(x, -ENOMEM, "out of memory");
            return;
        }
        d = x->toverflow ? -ENAMETOOLONG
                         : rc_url_decode(x->text, x->tlen, true, o->key, S3_KEY_MAX + 1);
        if (d < 0) {
            size_t keep = x->tlen < 64 ? x->tlen : 64;

            /* keep the raw start for the reject message */
            memcpy(o->key, x->text, keep);
            o->key[keep] = '\0';
            o->keylen = keep;
            o->bad_key = true;
        } else {
            o->keylen = (size_t)d;
        }
        break;
    }
    case S3_F_LM:
        if (o != NULL && rc_time_parse_iso(x->text, x->tlen, &o->last_modified_ms) == 0 &&
            !x->toverflow)
            o->have_lm = true;
        break;
    case S3_F_ETAG:
        if (o != NULL && !x->toverflow && x->tlen <= S3_ETAG_MAX)
            memcpy(o->etag, x->text, x->tlen + 1);
        break;
    case S3_F_SIZE:
        if (o != NULL && !x->toverflow)
            o->have_size = s3_digits(x->text, x->tlen, &o->size);
        break;
    }
    x->field = S3_F_NONE;
    x->tlen = 0;
    x->toverflow = false;
    if (x->depth == 2 && x->in_contents && strcmp(l, "Contents") == 0)
        x->in_contents = false;
    x->depth--;
}

static void XMLCALL s3_xml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                   const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    s3_xml_fail(ud, -EPROTO, "DOCTYPE not accepted");
}

void s3_page_free(struct s3_page *page)
{
    if (page == NULL)
        return;
    for (size_t i = 0; i < page->n; i++)
        free(page->objs[i].key);
    free(page->objs);
    memset(page, 0, sizeof(*page));
}

/*
 * Parses a ListObjectsV2 response, or an <Error> document (page->is_error,
 * page->code). Pure. On failure page is freed and zeroed, why says why.
 */
int s3_parse_list(const char *xml, size_t len, struct s3_page *page, char *why, size_t whylen)
{
    struct s3_xml *x;
    int rv = 0;

    memset(page, 0, sizeof(*page));
    if (len > S3_RESPONSE_MAX) {
        rc_seterr(why, whylen, "response larger than %d bytes", S3_RESPONSE_MAX);
        return -EMSGSIZE;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        rc_seterr(why, whylen, "out of memory");
        return -ENOMEM;
    }
    x->page = page;
    x->why = why;
    x->whylen = whylen;
    x->xp = XML_ParserCreate(NULL);
    if (x->xp == NULL) {
        free(x);
        rc_seterr(why, whylen, "out of memory");
        return -ENOMEM;
    }
    XML_SetUserData(x->xp, x);
    XML_SetElementHandler(x->xp, s3_xml_start, s3_xml_end);
    XML_SetCharacterDataHandler(x->xp, s3_xml_text);
    XML_SetStartDoctypeDeclHandler(x->xp, s3_xml_doctype);
    if (XML_Parse(x->xp, xml, (int)len, XML_TRUE) == XML_STATUS_ERROR && x->rv == 0) {
        x->rv = -EPROTO;
        rc_seterr(why, whylen, "bad XML at line %lu: %s",
                  (unsigned long)XML_GetCurrentLineNumber(x->xp),
                  XML_ErrorString(XML_GetErrorCode(x->xp)));
    }
    if (x->rv == 0 && !x->root_list && !x->root_error) {
        x->rv = -EPROTO;
        rc_seterr(why, whylen, "empty XML document");
    }
    rv = x->rv;
    XML_ParserFree(x->xp);
    free(x);
    if (rv < 0)
        s3_page_free(page);
    return rv;
}
