/*
 * fuzz_http.c - the HTTP request parser, the listen-address parser and the
 * event JSON line.
 *
 * The input is parsed as a request head at every split a reader could see
 * (the whole buffer and each prefix the server could hold when a read ends
 * is too slow; the whole, half, and byte-at-a-time growth to the first
 * complete head are checked): a complete head's length never exceeds the
 * input, a prefix never claims more than the whole, paths are
 * NUL-terminated and bounded. The bytes then go to rc_http_parse_addr and,
 * as node and reason, to rc_event_json, whose output must be one line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rollcall/hooks.h"
#include "rollcall/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rc_http_req req = {0}, req2 = {0};
    struct sockaddr_storage ss;
    struct rc_event ev;
    char text[RC_EVENT_TEXT_MAX];
    char json[RC_EVENT_JSON_MAX];
    size_t jl, i;
    int sslen = 0;
    int whole = rc_http_parse_request((const char *)data, size, &req);
    int half = rc_http_parse_request((const char *)data, size / 2, &req2);

    if (whole > 0 && (size_t)whole > size)
        abort();
    if (half > 0 && whole != half)
        abort(); /* a head complete in a prefix is the same head in the whole */
    if (whole > 0 && (strlen(req.path) > RC_HTTP_PATH_MAX || req.path[0] != '/'))
        abort();

    {
        char addr[80];
        size_t n = size < sizeof addr - 1 ? size : sizeof addr - 1;
        memcpy(addr, data, n);
        addr[n] = '\0';
        (void)rc_http_parse_addr(addr, &ss, &sslen);
    }

    i = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, i);
    text[i] = '\0';
    rc_event_init(&ev, (enum rc_event_type)(size % RC_EV_COUNT), text, text, 1.5, 1795200689277LL);
    jl = rc_event_json(&ev, text, json, sizeof json);
    if (jl == 0 || json[jl - 1] != '\n' || memchr(json, '\n', jl - 1) != NULL)
        abort();
    return 0;
}
