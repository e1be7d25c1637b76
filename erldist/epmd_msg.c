/*
 * epmd_msg.c - EPMD wire messages: builders and parsers, nothing else.
 *
 * Pure functions over byte buffers (no sockets, no logging, no allocation)
 * so that the unit tests and the fuzzer drive exactly the code the daemon
 * runs. Every parser checks a length before it reads the bytes it covers and
 * writes its out-parameters only on success. Facts: docs/protocol.md, "EPMD".
 */
#include "rollcall/epmd_msg.h"
#include "rollcall/bytes.h"

#include <errno.h>
#include <string.h>

/* ALIVE2_REQ body without the name: 'x' PortNo NodeType Protocol High Low Nlen ... Elen */
#define ALIVE2_REQ_FIXED 13
/* PORT2_RESP up to and including Nlen: 'w' Result PortNo NodeType Protocol High Low Nlen */
#define PORT2_RESP_FIXED 12

/* A node name as EPMD knows it: 1..255 bytes, no NUL (epmd itself refuses
 * NUL; '@' is the caller's business, it passes the part before it). */
static int alive_len(const char *alive, size_t *ret_len)
{
    size_t n;

    if (alive == NULL)
        return -EINVAL;
    n = strnlen(alive, RC_EPMD_ALIVE_MAX + 1);
    if (n < 1 || n > RC_EPMD_ALIVE_MAX)
        return -EINVAL;
    *ret_len = n;
    return 0;
}

static bool name_ok(const uint8_t *p, size_t n)
{
    return n >= 1 && n <= RC_EPMD_ALIVE_MAX && memchr(p, 0, n) == NULL;
}

int rc_epmd_build_alive2_req(uint8_t *out, size_t cap, size_t *ret_len, uint16_t port,
                             const char *alive)
{
    size_t n, body;
    uint8_t *p;
    int r;

    r = alive_len(alive, &n);
    if (r < 0)
        return r;
    body = ALIVE2_REQ_FIXED + n;
    if (cap < 2 + body)
        return -ENOSPC;
    p = rc_put16(out, (uint16_t)body);
    *p++ = RC_EPMD_ALIVE2_REQ;
    p = rc_put16(p, port);
    *p++ = 77; /* NodeType: OTP's erl_epmd sends 'M' for hidden nodes too */
    *p++ = 0;  /* Protocol: tcp/ipv4 */
    p = rc_put16(p, 6);
    p = rc_put16(p, 5);
    p = rc_put16(p, (uint16_t)n);
    memcpy(p, alive, n);
    p += n;
    p = rc_put16(p, 0); /* Elen */
    *ret_len = (size_t)(p - out);
    return 0;
}

int rc_epmd_parse_alive2_resp(const uint8_t *buf, size_t len, uint32_t *ret_creation)
{
    uint32_t creation;
    size_t want;

    if (len < 1)
        return -EAGAIN;
    if (buf[0] == RC_EPMD_ALIVE2_X_RESP)
        want = 6;
    else if (buf[0] == RC_EPMD_ALIVE2_RESP)
        want = 4;
    else
        return -EPROTO;
    if (len < want)
        return -EAGAIN;
    if (len > want) /* EPMD sends nothing else on the registration socket */
        return -EPROTO;
    if (buf[1] != 0)
        return -EEXIST;
    creation = want == 6 ? rc_get32(buf + 2) : rc_get16(buf + 2);
    if (creation == 0) /* never valid in a handshake, pid or ref */
        return -EPROTO;
    *ret_creation = creation;
    return 0;
}

int rc_epmd_build_port_please2_req(uint8_t *out, size_t cap, size_t *ret_len, const char *alive)
{
    uint8_t *p;
    size_t n;
    int r;

    r = alive_len(alive, &n);
    if (r < 0)
        return r;
    if (cap < 3 + n)
        return -ENOSPC;
    p = rc_put16(out, (uint16_t)(1 + n));
    *p++ = RC_EPMD_PORT_PLEASE2_REQ;
    memcpy(p, alive, n);
    *ret_len = 3 + n;
    return 0;
}

int rc_epmd_parse_port2_resp(const uint8_t *buf, size_t len, bool eof,
                             struct rc_epmd_node_info *ret)
{
    /* Anything still incomplete is -EAGAIN before EOF and malformed after. */
    int short_read = eof ? -EPROTO : -EAGAIN;
    struct rc_epmd_node_info info;
    size_t nlen, elen, total;

    if (len < 2)
        return len == 1 && buf[0] != RC_EPMD_PORT2_RESP ? -EPROTO : short_read;
    if (buf[0] != RC_EPMD_PORT2_RESP)
        return -EPROTO;
    if (buf[1] != 0) /* exactly 'w' Result */
        return len == 2 ? -ENOENT : -EPROTO;
    if (len < PORT2_RESP_FIXED)
        return short_read;

    nlen = rc_get16(buf + 10);
    if (nlen < 1 || nlen > RC_EPMD_ALIVE_MAX)
        return -EPROTO;
    if (len < PORT2_RESP_FIXED + nlen + 2)
        return short_read;
    elen = rc_get16(buf + PORT2_RESP_FIXED + nlen);
    total = PORT2_RESP_FIXED + nlen + 2 + elen;
    if (len < total)
        return short_read;
    if (len > total)
        return -EPROTO;
    if (!name_ok(buf + PORT2_RESP_FIXED, nlen))
        return -EPROTO;

    info = (struct rc_epmd_node_info){
        .port = rc_get16(buf + 2),
        .node_type = buf[4],
        .protocol = buf[5],
        .high = rc_get16(buf + 6),
        .low = rc_get16(buf + 8),
    };
    if (info.port == 0)
        return -EPROTO;
    memcpy(info.alive, buf + PORT2_RESP_FIXED, nlen);
    info.alive[nlen] = '\0';
    *ret = info;
    return 0;
}

static int parse_alive2_body(const uint8_t *b, size_t n, struct rc_epmd_req *req)
{
    size_t nlen, elen;

    if (n < ALIVE2_REQ_FIXED + 1)
        return -EPROTO;
    nlen = rc_get16(b + 9);
    if (nlen < 1 || nlen > RC_EPMD_ALIVE_MAX || ALIVE2_REQ_FIXED + nlen > n)
        return -EPROTO;
    elen = rc_get16(b + 11 + nlen);
    /* Exactly the declared fields: trailing bytes are as wrong as missing ones. */
    if (ALIVE2_REQ_FIXED + nlen + elen != n)
        return -EPROTO;
    if (!name_ok(b + 11, nlen))
        return -EPROTO;
    req->info.port = rc_get16(b + 1);
    req->info.node_type = b[3];
    req->info.protocol = b[4];
    req->info.high = rc_get16(b + 5);
    req->info.low = rc_get16(b + 7);
    memcpy(req->info.alive, b + 11, nlen);
    req->info.alive[nlen] = '\0';
    return 0;
}

static int parse_port_please2_body(const uint8_t *b, size_t n, struct rc_epmd_req *req)
{
    size_t nlen = n - 1;

    /* Ancient clients NUL-terminated the name; epmd still strips one. */
    if (nlen > 0 && b[n - 1] == 0)
        nlen--;
    if (!name_ok(b + 1, nlen))
        return -EPROTO;
    memcpy(req->info.alive, b + 1, nlen);
    req->info.alive[nlen] = '\0';
    return 0;
}

int rc_epmd_parse_req(const uint8_t *buf, size_t len, size_t *ret_used, struct rc_epmd_req *ret)
{
    struct rc_epmd_req req;
    const uint8_t *b;
    size_t n;
    int r;

    if (len < 2)
        return -EAGAIN;
    n = rc_get16(buf);
    /* The hard maximum first: nothing is waited for or parsed beyond it. */
    if (n < 1 || n >= RC_EPMD_MAX_REQ)
        return -EMSGSIZE;
    if (len < 2 + n)
        return -EAGAIN;

    b = buf + 2;
    memset(&req, 0, sizeof(req));
    req.type = b[0];
    switch (b[0]) {
    case RC_EPMD_ALIVE2_REQ:
        r = parse_alive2_body(b, n, &req);
        break;
    case RC_EPMD_PORT_PLEASE2_REQ:
        r = parse_port_please2_body(b, n, &req);
        break;
    case RC_EPMD_NAMES_REQ:
        r = 0; /* epmd ignores anything after the type byte */
        break;
    default:
        r = -EPROTO;
        break;
    }
    if (r < 0)
        return r;
    *ret = req;
    *ret_used = 2 + n;
    return 0;
}

int rc_epmd_build_alive2_x_resp(uint8_t *out, size_t cap, size_t *ret_len, uint8_t result,
                                uint32_t creation)
{
    if (cap < 6)
        return -ENOSPC;
    out[0] = RC_EPMD_ALIVE2_X_RESP;
    out[1] = result;
    rc_put32(out + 2, creation);
    *ret_len = 6;
    return 0;
}

int rc_epmd_build_port2_resp(uint8_t *out, size_t cap, size_t *ret_len,
                             const struct rc_epmd_node_info *info)
{
    size_t n, total;
    uint8_t *p;
    int r;

    if (info == NULL) {
        if (cap < 2)
            return -ENOSPC;
        out[0] = RC_EPMD_PORT2_RESP;
        out[1] = 1;
        *ret_len = 2;
        return 0;
    }
    r = alive_len(info->alive, &n);
    if (r < 0)
        return r;
    total = PORT2_RESP_FIXED + n + 2;
    if (cap < total)
        return -ENOSPC;
    p = out;
    *p++ = RC_EPMD_PORT2_RESP;
    *p++ = 0;
    p = rc_put16(p, info->port);
    *p++ = info->node_type;
    *p++ = info->protocol;
    p = rc_put16(p, info->high);
    p = rc_put16(p, info->low);
    p = rc_put16(p, (uint16_t)n);
    memcpy(p, info->alive, n);
    p += n;
    rc_put16(p, 0); /* Elen: no extra */
    *ret_len = total;
    return 0;
}
