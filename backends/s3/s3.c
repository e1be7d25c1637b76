/*
 * s3.c - the S3 registry backend (libcurl SigV4 + expat): operations.
 *
 *   s3://BUCKET[/PREFIX][?endpoint=http://HOST:PORT&region=us-east-1
 *                         &addressing=path|virtual&timeout=10s]
 *
 * One object per node, PREFIX/<node name>, holding the entry text (entry.c)
 * without its refresh-time line: the refresh time is the object's
 * LastModified, judged against the server's Date, so every reader ages
 * entries on the store's clock. Because the body then changes only when
 * host, port or started_at change, its ETag stays the same across
 * refreshes, and list() fetches a body only for objects whose ETag it has
 * not seen: a steady-state sweep is one ListObjectsV2 request per 1000
 * objects, not one GET per node. The GETs a list does need run
 * S3_FETCH_PARALLEL at a time (curl multi), on connections of their own.
 *
 * Signing: CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3" with region and service
 * given (curl would guess them from the host name), x-amz-content-sha256
 * always sent (hash of the body, or of nothing), x-amz-security-token when
 * a session token is set. libcurl 7.88 signs the path and query exactly as
 * sent, so we send them canonical: every path segment percent-encoded with
 * uppercase hex, query parameters sorted by name with encoded values. We
 * never set Date or x-amz-date ourselves.
 *
 * Listing: ListObjectsV2 (list-type=2, encoding-type=url so that any key
 * survives XML, prefix, continuation-token), parsed with expat by local
 * element name (servers differ in namespace), responses capped at 8 MiB,
 * no DOCTYPE accepted. Server time: Date has one-second resolution, so the
 * backend keeps the narrowest offset to the local clock that every Date
 * seen so far allows, which converges on the true offset within a few
 * requests and follows a stepped clock at once.
 *
 * Change signal (issue 15): a small marker object, PREFIX/.rollcall-changed
 * (a dotted name, skipped by list()), rewritten with fresh random content
 * (so a new ETag) by publish when our entry is new or its text changed and
 * by remove. A heartbeat PUTs the same body (same ETag, new LastModified)
 * and leaves the marker alone. `changed` GETs the marker with If-None-Match
 * at most every S3_CHANGE_POLL_MS: 304 = nothing moved. Between polls it
 * answers 0 without a request; newcomers reach the agents through the mesh
 * first (a single get), and the resync heals anything missed. Writers of
 * other versions do not touch the marker: the resync sees them.
 *
 * Conditional remove reads the object's LastModified from a listing of just
 * its key (so it judges the age exactly as list() does; HEAD would give
 * whole seconds only) and then deletes: a node that refreshes between the
 * two loses its object until its next publish, one interval later. S3
 * offers nothing atomic here.
 *
 * Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 * or ACCESS_KEY:SECRET@ in the URL. Region: region=, else AWS_REGION /
 * AWS_DEFAULT_REGION, else us-east-1. Without endpoint= the AWS endpoint
 * https://s3.REGION.amazonaws.com with virtual-host addressing is used;
 * with one, path-style unless addressing=virtual.
 *
 * This file holds the registry operations and the module entry; the URL
 * (s3_url.c), XML (s3_xml.c) and HTTP (s3_http.c) parts sit beside it, with
 * their contract in s3_int.h. Never logs; err never holds a secret. A ctx
 * serves one thread at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>

#include "rollcall/clock.h"
#include "rollcall/err.h"
#include "rollcall/backend.h"

#include "s3_int.h"

#define S3_MARKER ".rollcall-changed"
#define S3_CHANGE_POLL_MS 10000 /* at most one marker GET per this long */

/* A body the previous list() fetched, by key + ETag. */
struct s3_cached {
    char *key;
    char etag[S3_ETAG_MAX + 1];
    bool ok;
    struct rc_entry entry; /* ok */
    char why[96];          /* !ok */
    /* during one list() only: */
    size_t name_off;          /* the node name is key + name_off */
    int64_t last_modified_ms; /* from this listing */
    bool gone;                /* deleted between the listing and its GET */
};

static pthread_once_t s3_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s3_curl_init_rc;

static void s3_curl_init(void)
{
    s3_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void s3_cache_free(struct s3_cached *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].key);
    free(c);
}

static void s3_close(void *vctx)
{
    struct s3_ctx *ctx = vctx;

    if (ctx == NULL)
        return;
    if (ctx->curl != NULL)
        curl_easy_cleanup(ctx->curl);
    s3_cache_free(ctx->cache, ctx->ncache);
    if (ctx->session_token != NULL) {
        explicit_bzero(ctx->session_token, strlen(ctx->session_token));
        free(ctx->session_token);
    }
    explicit_bzero(ctx, sizeof(*ctx));
    free(ctx);
}

static bool s3_cred_ok(const char *s, size_t max, bool key)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < ' ' || s[i] == 0x7f || (key && (s[i] == ':' || s[i] == ' ')))
            return false;
    return true;
}

static int s3_open(const char *url, void **ret_ctx, char *err, size_t errlen)
{
    struct s3_ctx *ctx;
    const char *ak, *sk, *tok;
    int rv;

    pthread_once(&s3_curl_once, s3_curl_init);
    if (s3_curl_init_rc != CURLE_OK) {
        rc_seterr(err, errlen, "cannot initialise libcurl");
        return -EIO;
    }
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        rc_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rv = s3_url_parse(url, &ctx->url, err, errlen);
    if (rv < 0)
        goto out_close;
    if (!ctx->url.have_region) {
        const char *r = getenv("AWS_REGION");

        if (r == NULL || r[0] == '\0')
            r = getenv("AWS_DEFAULT_REGION");
        if (r == NULL || r[0] == '\0')
            r = "us-east-1";
        if (!s3_region_valid(r)) {
            rc_seterr(err, errlen, "s3: bad region in AWS_REGION / AWS_DEFAULT_REGION");
            rv = -EINVAL;
            goto out_close;
        }
        snprintf(ctx->url.region, sizeof(ctx->url.region), "%s", r);
    }
    if (!ctx->url.have_endpoint) {
        snprintf(ctx->url.scheme, sizeof(ctx->url.scheme), "https");
        snprintf(ctx->url.hostport, sizeof(ctx->url.hostport), "s3.%s.amazonaws.com",
                 ctx->url.region);
    }
    snprintf(ctx->sigv4, sizeof(ctx->sigv4), "aws:amz:%s:s3", ctx->url.region);

    if (ctx->url.have_keys) {
        ak = ctx->url.access_key;
        sk = ctx->url.secret_key;
    } else {
        ak = getenv("AWS_ACCESS_KEY_ID");
        sk = getenv("AWS_SECRET_ACCESS_KEY");
    }
    if (ak == NULL || sk == NULL || ak[0] == '\0' || sk[0] == '\0') {
        rc_seterr(err, errlen,
                  "s3: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
        rv = -EINVAL;
        goto out_close;
    }
    if (!s3_cred_ok(ak, sizeof(ctx->access_key) - 1, true) ||
        !s3_cred_ok(sk, sizeof(ctx->secret_key) - 1, false)) {
        rc_seterr(err, errlen, "s3: the access key or secret key has bad characters or length");
        rv = -EINVAL;
        goto out_close;
    }
    snprintf(ctx->access_key, sizeof(ctx->access_key), "%s", ak);
    snprintf(ctx->secret_key, sizeof(ctx->secret_key), "%s", sk);
    tok = getenv("AWS_SESSION_TOKEN");
    if (tok != NULL && tok[0] != '\0' && !ctx->url.have_keys) {
        if (!s3_cred_ok(tok, S3_SECRET_MAX, false)) {
            rc_seterr(err, errlen, "s3: AWS_SESSION_TOKEN has bad characters or length");
            rv = -EINVAL;
            goto out_close;
        }
        ctx->session_token = strdup(tok);
        if (ctx->session_token == NULL)
            goto out_nomem;
    }
    ctx->curl = curl_easy_init();
    if (ctx->curl == NULL)
        goto out_nomem;
    *ret_ctx = ctx;
    return 0;

out_nomem:
    rc_seterr(err, errlen, "out of memory");
    rv = -ENOMEM;
out_close:
    s3_close(ctx);
    return rv;
}

/* Rewrites the marker with new content: every reader's next poll sees a new ETag. */
static int s3_marker_bump(struct s3_ctx *ctx, char *err, size_t errlen)
{
    char url[2048], body[64];
    struct s3_resp r;
    uint64_t rnd = 0;
    int rv;

    if (s3_object_url(&ctx->url, S3_MARKER, url, sizeof(url)) < 0) {
        rc_seterr(err, errlen, "s3: object URL too long");
        return -ENAMETOOLONG;
    }
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
        rnd = rc_now_mono_us();
    snprintf(body, sizeof(body), "%lld %016llx\n", (long long)rc_now_wall_ms(),
             (unsigned long long)rnd);
    rv = s3_http(ctx, "PUT", url, body, strlen(body), S3_ERROR_BODY_MAX, &r, "publish (marker)",
                 err, errlen);
    if (rv < 0)
        return rv;
    if (r.status < 200 || r.status > 299)
        rv = s3_status_error(ctx, &r, "publish (marker)", err, errlen);
    s3_resp_free(&r);
    return rv;
}

static bool s3_etag_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static int s3_changed(void *vctx, uint64_t *version, char *err, size_t errlen)
{
    struct s3_ctx *ctx = vctx;
    uint64_t now = rc_now_mono_ms();
    char url[2048];
    struct s3_resp r;
    bool changed;
    int rv;

    if (ctx->marker_read && now - ctx->marker_checked_ms < S3_CHANGE_POLL_MS)
        return 0;
    if (s3_object_url(&ctx->url, S3_MARKER, url, sizeof(url)) < 0) {
        rc_seterr(err, errlen, "s3: object URL too long");
        return -ENAMETOOLONG;
    }
    snprintf(ctx->if_none_match, sizeof(ctx->if_none_match), "%s", ctx->marker_etag);
    rv = s3_http(ctx, "GET", url, NULL, 0, 1024, &r, "change check", err, errlen);
    ctx->if_none_match[0] = '\0';
    if (rv < 0)
        return rv;
    if (r.status == 304) {
        changed = false;
    } else if (r.status == 404) {
        changed = ctx->marker_etag[0] != '\0';
        ctx->marker_etag[0] = '\0';
    } else if (r.status == 200) {
        changed = strcmp(ctx->marker_etag, r.etag) != 0;
        snprintf(ctx->marker_etag, sizeof(ctx->marker_etag), "%s",
                 s3_etag_ok(r.etag) ? r.etag : "");
    } else {
        rv = s3_status_error(ctx, &r, "change check", err, errlen);
        s3_resp_free(&r);
        return rv;
    }
    s3_resp_free(&r);
    if (!ctx->marker_read)
        changed = true; /* the first check: what came before is unknown */
    ctx->marker_read = true;
    ctx->marker_checked_ms = now;
    if (changed)
        (*version)++;
    return changed ? 1 : 0;
}

static int s3_publish(void *vctx, const struct rc_entry *self, char *err, size_t errlen)
{
    struct s3_ctx *ctx = vctx;
    char url[2048], text[1024];
    struct s3_resp r;
    size_t len;
    int rv;

    if (rc_entry_format_body(self, text, sizeof(text), &len) < 0) {
        rc_seterr(err, errlen, "not a valid entry (name or host)");
        return -EINVAL;
    }
    if (s3_object_url(&ctx->url, self->name, url, sizeof(url)) < 0) {
        rc_seterr(err, errlen, "s3: object URL too long");
        return -ENAMETOOLONG;
    }
    rv = s3_http(ctx, "PUT", url, text, len, S3_ERROR_BODY_MAX, &r, "publish", err, errlen);
    if (rv < 0)
        return rv;
    if (r.status < 200 || r.status > 299)
        rv = s3_status_error(ctx, &r, "publish", err, errlen);
    s3_resp_free(&r);
    if (rv == 0 && !rc_written_same(&ctx->written, self->name, text, len)) {
        rv = s3_marker_bump(ctx, err, errlen);
        if (rv == 0)
            rc_written_set(&ctx->written, self->name, text, len);
    }
    return rv;
}

static int s3_cached_cmp(const void *a, const void *b)
{
    return strcmp(((const struct s3_cached *)a)->key, ((const struct s3_cached *)b)->key);
}

static const struct s3_cached *s3_cache_find(const struct s3_ctx *ctx, const char *key)
{
    struct s3_cached probe = {.key = (char *)key};

    if (ctx->ncache == 0)
        return NULL;
    return bsearch(&probe, ctx->cache, ctx->ncache, sizeof(*ctx->cache), s3_cached_cmp);
}

/* All objects under the prefix, every page. On success *ret holds them. */
static int s3_list_all(struct s3_ctx *ctx, struct s3_page *ret, char *err, size_t errlen)
{
    struct s3_page all = {0};
    char *url, token[S3_TOKEN_MAX + 1] = "";
    int rv = 0;

    url = malloc(S3_TOKEN_MAX * 3 + 2048);
    if (url == NULL) {
        rc_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (int pages = 0;; pages++) {
        struct s3_page page;
        struct s3_resp r;
        char why[128];

        if (pages >= S3_PAGES_MAX) {
            rc_seterr(err, errlen, "s3 list: more than %d pages", S3_PAGES_MAX);
            rv = -E2BIG;
            break;
        }
        if (s3_list_url(&ctx->url, token, NULL, url, S3_TOKEN_MAX * 3 + 2048) < 0) {
            rc_seterr(err, errlen, "s3 list: URL too long");
            rv = -ENAMETOOLONG;
            break;
        }
        rv = s3_http(ctx, "GET", url, NULL, 0, S3_RESPONSE_MAX, &r, "list", err, errlen);
        if (rv < 0)
            break;
        if (r.status != 200) {
            rv = s3_status_error(ctx, &r, "list", err, errlen);
            s3_resp_free(&r);
            break;
        }
        if (r.body.overflow) {
            rc_seterr(err, errlen, "s3 list: response larger than %d bytes", S3_RESPONSE_MAX);
            s3_resp_free(&r);
            rv = -EMSGSIZE;
            break;
        }
        rv = s3_parse_list(r.body.p != NULL ? r.body.p : "", r.body.len, &page, why, sizeof(why));
        s3_resp_free(&r);
        if (rv < 0) {
            rc_seterr(err, errlen, "s3 list: %s", why);
            break;
        }
        if (page.is_error) {
            rc_seterr(err, errlen, "s3 list (bucket %s): error %s", ctx->url.bucket, page.code);
            s3_page_free(&page);
            rv = -EREMOTEIO;
            break;
        }
        /* append this page's objects */
        if (page.n > 0) {
            void *p = realloc(all.objs, (all.n + page.n) * sizeof(*all.objs));

            if (p == NULL) {
                s3_page_free(&page);
                rc_seterr(err, errlen, "out of memory");
                rv = -ENOMEM;
                break;
            }
            all.objs = p;
            memcpy(all.objs + all.n, page.objs, page.n * sizeof(*page.objs));
            all.n += page.n;
            all.cap = all.n;
            free(page.objs); /* the keys moved to all */
            page.objs = NULL;
            page.n = 0;
        }
        if (!page.truncated || all.n > RC_REGISTRY_MAX_ENTRIES) {
            all.truncated = page.truncated;
            s3_page_free(&page);
            break;
        }
        if (page.next_token[0] == '\0') {
            s3_page_free(&page);
            rc_seterr(err, errlen, "s3 list: truncated listing without NextContinuationToken");
            rv = -EPROTO;
            break;
        }
        memcpy(token, page.next_token, sizeof(token));
        s3_page_free(&page);
    }
    free(url);
    if (rv < 0) {
        s3_page_free(&all);
        return rv;
    }
    *ret = all;
    return 0;
}

/*
 * Judges the response r to one object's GET into c (ok or a reject reason)
 * and frees r. Returns 1 if the object vanished meanwhile, 0 done, negative
 * (with err) to fail the list.
 */
static int s3_fetch_result(struct s3_ctx *ctx, const char *name, struct s3_resp *r,
                           struct s3_cached *c, char *err, size_t errlen)
{
    int rv = 0;

    if (r->status == 404) {
        rv = 1;
    } else if (r->status == 403) {
        snprintf(c->why, sizeof(c->why), "cannot read the object (HTTP 403)");
    } else if (r->status != 200) {
        rv = s3_status_error(ctx, r, "get", err, errlen);
    } else if (r->body.overflow) {
        snprintf(c->why, sizeof(c->why), "larger than %d bytes", RC_ENTRY_TEXT_MAX);
    } else if (rc_entry_parse(r->body.p != NULL ? r->body.p : "", r->body.len, name, &c->entry,
                              c->why, sizeof(c->why)) == 0) {
        c->ok = true;
    }
    s3_resp_free(r);
    return rv;
}

/* One body to fetch: the object's node name, where its verdict goes. */
struct s3_job {
    const char *name;
    struct s3_cached *c;
};

/* A transfer slot of s3_fetch_all. */
struct s3_slot {
    CURL *easy;
    struct curl_slist *hdrs;
    struct s3_resp r;
    size_t job;
    bool busy;
    char errbuf[CURL_ERROR_SIZE];
};

/*
 * Judges every transfer of multi that has finished (s3_req_done, then
 * s3_fetch_result) and frees its slot. Returns the first error, with err;
 * the later ones are judged too but not reported.
 */
static int s3_fetch_finished(struct s3_ctx *ctx, CURLM *multi, struct s3_job *jobs, size_t *busy,
                             char *err, size_t errlen)
{
    CURLMsg *m;
    int left, rv = 0;

    while ((m = curl_multi_info_read(multi, &left)) != NULL) {
        struct s3_slot *sl = NULL;
        char later[128];
        char *e = rv == 0 ? err : later;
        size_t elen = rv == 0 ? errlen : sizeof(later);
        CURLcode cc;
        struct s3_job *j;
        int r;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
        cc = m->data.result;
        curl_multi_remove_handle(multi, sl->easy);
        sl->busy = false;
        (*busy)--;
        j = &jobs[sl->job];
        r = s3_req_done(ctx, sl->easy, sl->errbuf, cc, sl->hdrs, &sl->r, "get", e, elen);

        sl->hdrs = NULL;
        if (r == 0)
            r = s3_fetch_result(ctx, j->name, &sl->r, j->c, e, elen);
        if (r == 1)
            j->c->gone = true;
        else if (r < 0 && rv == 0)
            rv = r;
    }
    return rv;
}

/*
 * Fetches the bodies of jobs, up to S3_FETCH_PARALLEL at a time, each on its
 * own connection (a cold cache at 1000 nodes was 0.7 s of GETs in series).
 * A job whose object vanished meanwhile gets c->gone. A transport error or
 * an unexpected status fails the whole list, as one GET in series did; the
 * transfers still under way are then abandoned. The connections last for
 * one call: a warm cache fetches nothing, and keeping S3_FETCH_PARALLEL idle
 * connections open to the store between rounds would cost it more.
 */
static int s3_fetch_all(struct s3_ctx *ctx, struct s3_job *jobs, size_t njobs, char *err,
                        size_t errlen)
{
    struct s3_slot slots[S3_FETCH_PARALLEL];
    size_t nslots = njobs < S3_FETCH_PARALLEL ? njobs : S3_FETCH_PARALLEL, next = 0, busy = 0;
    CURLM *multi;
    int rv = 0;

    if (njobs == 0)
        return 0;
    memset(slots, 0, sizeof(slots));
    multi = curl_multi_init();
    if (multi == NULL)
        goto out_nomem;
    for (size_t k = 0; k < nslots; k++) {
        slots[k].easy = curl_easy_init();
        if (slots[k].easy == NULL)
            goto out_nomem;
    }
    while (rv == 0 && (next < njobs || busy > 0)) {
        int running;
        size_t was_busy;
        CURLMcode mc;

        /* fill the idle slots */
        for (size_t k = 0; k < nslots && rv == 0; k++) {
            struct s3_slot *sl = &slots[k];
            char url[2048];

            if (sl->busy)
                continue;
            /* a name that makes no URL is judged here, without a request */
            while (next < njobs &&
                   s3_object_url(&ctx->url, jobs[next].name, url, sizeof(url)) < 0) {
                snprintf(jobs[next].c->why, sizeof(jobs[next].c->why), "object URL too long");
                next++;
            }
            if (next >= njobs)
                break;
            rv = s3_req_setup(ctx, sl->easy, sl->errbuf, "GET", url, NULL, 0, RC_ENTRY_TEXT_MAX,
                              &sl->r, &sl->hdrs, "get", err, errlen);
            if (rv < 0)
                break;
            curl_easy_setopt(sl->easy, CURLOPT_PRIVATE, sl);
            if (curl_multi_add_handle(multi, sl->easy) != CURLM_OK) {
                curl_slist_free_all(sl->hdrs);
                sl->hdrs = NULL;
                goto out_nomem;
            }
            sl->job = next++;
            sl->busy = true;
            busy++;
        }
        if (rv < 0 || busy == 0)
            break;
        running = 0;
        was_busy = busy;
        mc = curl_multi_perform(multi, &running);
        if (mc == CURLM_OK)
            rv = s3_fetch_finished(ctx, multi, jobs, &busy, err, errlen);
        /* wait for the network only when no freed slot can take a job */
        if (mc == CURLM_OK && rv == 0 && running > 0 && (busy == was_busy || next >= njobs))
            mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            rc_seterr(err, errlen, "s3 get: %s", curl_multi_strerror(mc));
            rv = -EIO;
        }
    }
    goto out;

out_nomem:
    rc_seterr(err, errlen, "out of memory");
    rv = -ENOMEM;
out:
    for (size_t k = 0; k < nslots; k++) {
        struct s3_slot *sl = &slots[k];

        if (sl->easy == NULL)
            continue;
        if (sl->busy) {
            curl_multi_remove_handle(multi, sl->easy);
            curl_slist_free_all(sl->hdrs);
            s3_resp_free(&sl->r);
        }
        curl_easy_cleanup(sl->easy);
    }
    if (multi != NULL)
        curl_multi_cleanup(multi);
    return rv;
}

/*
 * list(): one listing (all pages), then the bodies whose ETag the cache has
 * not seen, fetched in parallel (s3_fetch_all), then the entries in listing
 * order. At most RC_REGISTRY_MAX_ENTRIES objects get as far as a cache slot
 * (or a GET): past that the list notes the overflow (l.overflow) and the
 * facade (rc_registry_list) reports the rest as ignored.
 */
static int s3_list(void *vctx, struct rc_reg_list *ret_list, char *err, size_t errlen)
{
    struct s3_ctx *ctx = vctx;
    struct rc_reg_list l = {0};
    struct s3_page all;
    struct s3_cached *cache = NULL;
    struct s3_job *jobs = NULL;
    size_t ncache = 0, njobs = 0, kept = 0, plen = strlen(ctx->url.prefix);
    int64_t now;
    int rv;

    rv = s3_list_all(ctx, &all, err, errlen);
    if (rv < 0)
        return rv;
    if (all.n > 0) {
        cache = calloc(all.n, sizeof(*cache));
        jobs = calloc(all.n, sizeof(*jobs));
        if (cache == NULL || jobs == NULL) {
            rv = -ENOMEM;
            goto out_nomem;
        }
    }
    /* 1. what the listing says: rejects, cache hits, bodies to fetch */
    for (size_t i = 0; i < all.n; i++) {
        struct s3_object *o = &all.objs[i];
        const char *name = o->key != NULL ? o->key : "";
        size_t nlen = o->keylen;
        const struct s3_cached *old;
        struct s3_cached *c;

        if (o->key == NULL)
            continue; /* a <Contents> without <Key>: nothing to name */
        if (!o->bad_key && plen > 0) {
            if (nlen <= plen || memcmp(name, ctx->url.prefix, plen) != 0 || name[plen] != '/')
                continue; /* not under our prefix (a server ignoring prefix=) */
            name += plen + 1;
            nlen -= plen + 1;
        }
        if (!o->bad_key && nlen == strlen(S3_MARKER) && memcmp(name, S3_MARKER, nlen) == 0)
            continue; /* the change marker */
        if (o->bad_key || nlen > RC_NAME_MAX || strlen(name) != nlen || !rc_node_name_valid(name)) {
            rv = rc_reg_list_reject(&l, name, nlen, "not a valid node name");
            goto next;
        }
        if (!o->have_lm) {
            rv = rc_reg_list_reject(&l, name, nlen, "no LastModified in the listing");
            goto next;
        }
        if (o->have_size && o->size > RC_ENTRY_TEXT_MAX) {
            char why[64];

            snprintf(why, sizeof(why), "larger than %d bytes", RC_ENTRY_TEXT_MAX);
            rv = rc_reg_list_reject(&l, name, nlen, why);
            goto next;
        }
        if (ncache == RC_REGISTRY_MAX_ENTRIES) {
            /* full: noted for the facade, which reports the rest */
            l.overflow = true;
            snprintf(l.overflow_name, sizeof(l.overflow_name), "%.*s", (int)nlen, name);
            break;
        }
        c = &cache[ncache++];
        old = o->etag[0] != '\0' ? s3_cache_find(ctx, o->key) : NULL;
        if (old != NULL && strcmp(old->etag, o->etag) == 0) {
            c->ok = old->ok;
            c->entry = old->entry;
            memcpy(c->why, old->why, sizeof(c->why));
        } else {
            jobs[njobs].name = name;
            jobs[njobs].c = c;
            njobs++;
        }
        c->name_off = (size_t)(name - o->key);
        c->last_modified_ms = o->last_modified_ms;
        c->key = o->key;
        o->key = NULL; /* the cache owns it now; name still points into it */
        memcpy(c->etag, o->etag, sizeof(c->etag));
    next:
        if (rv < 0)
            goto out_nomem;
    }
    s3_page_free(&all);
    /* 2. the bodies not cached */
    rv = s3_fetch_all(ctx, jobs, njobs, err, errlen);
    if (rv < 0)
        goto out_free;
    /* 3. the entries, in listing order; the cache keeps what still exists */
    now = s3_server_now(ctx);
    for (size_t i = 0; i < ncache; i++) {
        struct s3_cached *c = &cache[i];
        const char *name = c->key + c->name_off;
        struct rc_entry e;

        if (c->gone) {
            free(c->key);
            continue;
        }
        cache[kept++] = *c;
        if (!c->ok) {
            rv = rc_reg_list_reject(&l, name, strlen(name), c->why);
        } else {
            e = c->entry;
            e.updated_at_ms = c->last_modified_ms;
            e.age_ms = now - c->last_modified_ms;
            if (e.age_ms < 0)
                e.age_ms = 0;
            rv = rc_reg_list_add(&l, &e);
        }
        if (rv < 0) {
            /* keep every key still owned in cache[0..kept) for the free */
            for (size_t k = i + 1; k < ncache; k++)
                cache[kept++] = cache[k];
            ncache = kept;
            goto out_nomem;
        }
    }
    ncache = kept;
    free(jobs);
    if (ncache > 1)
        qsort(cache, ncache, sizeof(*cache), s3_cached_cmp);
    s3_cache_free(ctx->cache, ctx->ncache);
    ctx->cache = cache;
    ctx->ncache = ncache;
    *ret_list = l;
    return 0;

out_nomem:
    rc_seterr(err, errlen, "out of memory");
out_free:
    free(jobs);
    s3_cache_free(cache, ncache);
    s3_page_free(&all);
    rc_reg_list_free(&l);
    return rv;
}

/*
 * The age of name's object, judged exactly as list() judges it: its
 * LastModified from a listing of just that key (HEAD's Last-Modified has
 * only whole seconds) against the server's clock. -ENOENT if it is missing.
 */
static int s3_age(struct s3_ctx *ctx, const char *name, int64_t *ret_age, char *err, size_t errlen)
{
    char url[4096], key[S3_PREFIX_MAX + RC_NAME_MAX + 2], why[128];
    struct s3_page page;
    struct s3_resp r;
    int rv;

    if (s3_list_url(&ctx->url, NULL, name, url, sizeof(url)) < 0 ||
        s3_key(&ctx->url, name, key, sizeof(key)) < 0) {
        rc_seterr(err, errlen, "s3: object URL too long");
        return -ENAMETOOLONG;
    }
    rv = s3_http(ctx, "GET", url, NULL, 0, S3_RESPONSE_MAX, &r, "remove (list)", err, errlen);
    if (rv < 0)
        return rv;
    if (r.status != 200 || r.body.overflow) {
        rv = r.status != 200 ? s3_status_error(ctx, &r, "remove (list)", err, errlen) : -EMSGSIZE;
        if (rv == -EMSGSIZE)
            rc_seterr(err, errlen, "s3 remove (list): response too large");
        s3_resp_free(&r);
        return rv;
    }
    rv = s3_parse_list(r.body.p != NULL ? r.body.p : "", r.body.len, &page, why, sizeof(why));
    s3_resp_free(&r);
    if (rv < 0) {
        rc_seterr(err, errlen, "s3 remove (list): %s", why);
        return rv;
    }
    rv = -ENOENT;
    for (size_t i = 0; i < page.n; i++) {
        const struct s3_object *o = &page.objs[i];

        if (o->key == NULL || o->bad_key || strcmp(o->key, key) != 0)
            continue;
        if (!o->have_lm) {
            rc_seterr(err, errlen, "s3 remove: no LastModified for the object");
            rv = -EPROTO;
        } else {
            *ret_age = s3_server_now(ctx) - o->last_modified_ms;
            rv = 0;
        }
        break;
    }
    s3_page_free(&page);
    return rv;
}

static int s3_remove(void *vctx, const char *name, int64_t min_age_ms, char *err, size_t errlen)
{
    struct s3_ctx *ctx = vctx;
    char url[2048];
    struct s3_resp r;
    int rv;

    if (s3_object_url(&ctx->url, name, url, sizeof(url)) < 0) {
        rc_seterr(err, errlen, "s3: object URL too long");
        return -ENAMETOOLONG;
    }
    if (min_age_ms > 0) {
        int64_t age = 0;

        rv = s3_age(ctx, name, &age, err, errlen);
        if (rv == -ENOENT)
            return 0; /* gone already */
        if (rv < 0)
            return rv;
        if (age < min_age_ms)
            return 0; /* refreshed meanwhile: it stays */
    }
    rv = s3_http(ctx, "DELETE", url, NULL, 0, S3_ERROR_BODY_MAX, &r, "remove", err, errlen);
    if (rv < 0)
        return rv;
    if ((r.status < 200 || r.status > 299) && r.status != 404)
        rv = s3_status_error(ctx, &r, "remove", err, errlen);
    s3_resp_free(&r);
    if (rv == 0)
        rv = s3_marker_bump(ctx, err, errlen);
    if (rv == 0)
        rc_written_forget(&ctx->written, name);
    /* S3's DELETE answers 204 whether or not the key was there, so "this
     * call removed it" rests on the listing above: two agents pruning in the
     * same moment may both say 1 (backend.h allows no better here). */
    return rv == 0 ? 1 : rv;
}

/* One entry: its age as list() judges it (a listing of its key), its body
 * by GET. */
static int s3_get(void *vctx, const char *name, struct rc_entry *ret, char *err, size_t errlen)
{
    struct s3_ctx *ctx = vctx;
    struct s3_cached c;
    struct s3_resp r;
    char url[2048];
    int64_t age = 0;
    int rv;

    rv = s3_age(ctx, name, &age, err, errlen);
    if (rv == -ENOENT)
        rc_seterr(err, errlen, "no entry for %s", name);
    if (rv < 0)
        return rv;
    if (s3_object_url(&ctx->url, name, url, sizeof(url)) < 0) {
        rc_seterr(err, errlen, "s3: object URL too long");
        return -ENAMETOOLONG;
    }
    rv = s3_http(ctx, "GET", url, NULL, 0, RC_ENTRY_TEXT_MAX, &r, "get", err, errlen);
    if (rv < 0)
        return rv;
    memset(&c, 0, sizeof(c));
    rv = s3_fetch_result(ctx, name, &r, &c, err, errlen);
    if (rv == 1) {
        rc_seterr(err, errlen, "no entry for %s", name);
        return -ENOENT;
    }
    if (rv < 0)
        return rv;
    if (!c.ok) {
        rc_seterr(err, errlen, "%s: %s", name, c.why);
        return -EBADMSG;
    }
    *ret = c.entry;
    ret->age_ms = age < 0 ? 0 : age;
    return 0;
}

const struct rc_backend_ops rc_backend_s3 = {
    .scheme = "s3",
    .open = s3_open,
    .publish = s3_publish,
    .list = s3_list,
    .remove = s3_remove,
    .close = s3_close,
    .changed = s3_changed,
    .get = s3_get,
};
