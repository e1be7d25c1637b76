/*
 * fuzz_backend_url.c - libFuzzer target for the registry URL parsers of the
 * Redis, PostgreSQL and S3 backends (redis_url_parse, pg_url_split,
 * s3_url_parse): what a user writes into a config file or environment.
 *
 * Each parser gets the input as it is and with its scheme put in front, so
 * the fuzzer need not find "redis://" first. Beyond memory safety it checks:
 *   - err is NUL-terminated, and never contains the URL's password (the
 *     userinfo after ':'; checked for passwords with a byte that no fixed
 *     message holds, and that appear nowhere else in the URL);
 *   - a parsed URL keeps its invariants: a port, a valid cluster name, an S3
 *     prefix without empty segments or surrounding '/', a postgres URI
 *     without our own parameter.
 * Seeds: tests/fuzz/corpus/fuzz_backend_url/.
 *
 * The parsers come from the backends' objects (rollcall_backend_redis,
 * _postgres, _s3) through their private headers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/postgres_int.h"
#include "../../backends/redis_int.h"
#include "../../backends/s3/s3_int.h"

/* The userinfo password of url, if it is worth looking for in err. */
static bool find_password(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://"), *auth, *end, *at = NULL, *colon;
    size_t n;

    if (p == NULL)
        return false;
    auth = p + 3;
    end = auth + strcspn(auth, "/?#");
    for (const char *q = auth; q < end; q++)
        if (*q == '@')
            at = q;
    if (at == NULL)
        return false;
    colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon == NULL)
        return false;
    n = (size_t)(at - colon - 1);
    if (n < 6 || n >= cap)
        return false;
    memcpy(out, colon + 1, n);
    out[n] = '\0';
    /* text that is also elsewhere in the URL may be echoed from there */
    if (memmem(url, (size_t)(colon + 1 - url), out, n) != NULL || strstr(at, out) != NULL)
        return false;
    /* a password made only of what our fixed messages are made of ("postgres",
     * "URL") could match them by chance: look only for ones with a byte no
     * message text has */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] >= 0x80 || strchr("!$*^|`~", out[i]) != NULL)
            return true;
    return false;
}

static void check_err(const char *url, const char *err, size_t errlen)
{
    char pw[600];

    if (memchr(err, '\0', errlen) == NULL)
        abort();
    if (find_password(url, pw, sizeof(pw)) && strstr(err, pw) != NULL)
        abort();
}

static void one(const char *url)
{
    char err[256];

    {
        struct redis_url u;

        err[0] = '\0';
        if (redis_url_parse(url, &u, err, sizeof(err)) == 0) {
            if (u.port == 0 || !redis_cluster_valid(u.cluster) || u.host[0] == '\0' ||
                memchr(u.password, '\0', sizeof(u.password)) == NULL ||
                u.timeout_ms < REDIS_TIMEOUT_MIN_MS || u.timeout_ms > REDIS_TIMEOUT_MAX_MS)
                abort();
        } else {
            check_err(url, err, sizeof(err));
        }
    }
    {
        char uri[PG_URI_MAX], cluster[PG_CLUSTER_MAX + 1];

        err[0] = '\0';
        if (pg_url_split(url, uri, sizeof(uri), cluster, err, sizeof(err)) == 0) {
            const char *q = strchr(uri, '?');

            if (!pg_cluster_valid(cluster) || strlen(uri) > strlen(url))
                abort();
            /* our parameter never reaches libpq (outside the query it is not one) */
            if (q != NULL &&
                (strncmp(q + 1, PG_CLUSTER_PARAM "=", strlen(PG_CLUSTER_PARAM) + 1) == 0 ||
                 strstr(q, "&" PG_CLUSTER_PARAM "=") != NULL))
                abort();
        } else {
            check_err(url, err, sizeof(err));
        }
    }
    {
        struct s3_url u;

        err[0] = '\0';
        if (s3_url_parse(url, &u, err, sizeof(err)) == 0) {
            size_t n = strlen(u.prefix);

            if (!s3_bucket_valid(u.bucket, strlen(u.bucket)) || strstr(u.prefix, "//") != NULL ||
                (n > 0 && (u.prefix[0] == '/' || u.prefix[n - 1] == '/')))
                abort();
            if (u.have_endpoint) {
                char out[4096];

                /* building request URLs from it stays in bounds */
                s3_object_url(&u, "a@b", out, sizeof(out));
                s3_list_url(&u, "tok/=+", NULL, out, sizeof(out));
                s3_list_url(&u, NULL, "a@b", out, sizeof(out));
            }
        } else {
            check_err(url, err, sizeof(err));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const schemes[] = {"", "redis://", "postgres://", "s3://"};
    char *url;

    if (size > 8192)
        return 0;
    url = malloc(size + 16);
    if (url == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t sl = strlen(schemes[i]);

        memcpy(url, schemes[i], sl);
        memcpy(url + sl, data, size);
        url[sl + size] = '\0';
        one(url);
    }
    free(url);
    return 0;
}
