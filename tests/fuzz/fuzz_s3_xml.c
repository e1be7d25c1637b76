/*
 * fuzz_s3_xml.c - libFuzzer target for the S3 backend's ListObjectsV2 /
 * Error parser (s3_parse_list in backends/s3/s3_xml.c): what an S3 server, or
 * anything answering in its place, sends back.
 *
 * Beyond memory safety (ASan/UBSan), it checks that a parsed page keeps its
 * bounds: at most S3_PAGE_OBJECTS_MAX objects, every key and ETag
 * NUL-terminated within its limit, a continuation token within
 * S3_TOKEN_MAX, and that a failed parse leaves the page empty.
 * Seeds: tests/fuzz/corpus/fuzz_s3_xml/.
 *
 * The parser comes from the backend's objects (rollcall_backend_s3) through
 * its private header.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/s3/s3_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s3_page p;
    char why[128];

    if (size > S3_RESPONSE_MAX + 1)
        return 0;
    if (s3_parse_list((const char *)data, size, &p, why, sizeof(why)) != 0) {
        if (p.objs != NULL || p.n != 0 || memchr(why, '\0', sizeof(why)) == NULL)
            abort();
        return 0;
    }
    if (p.n > S3_PAGE_OBJECTS_MAX || p.n > p.cap)
        abort();
    if (strnlen(p.next_token, sizeof(p.next_token)) > S3_TOKEN_MAX)
        abort();
    if (memchr(p.code, '\0', sizeof(p.code)) == NULL)
        abort();
    for (size_t i = 0; i < p.n; i++) {
        const struct s3_object *o = &p.objs[i];

        if (memchr(o->etag, '\0', sizeof(o->etag)) == NULL)
            abort();
        if (o->key != NULL && (o->keylen > S3_KEY_MAX || o->key[o->keylen] != '\0'))
            abort();
        if (o->have_size && o->size < 0)
            abort();
    }
    s3_page_free(&p);
    return 0;
}
