/*
 * epmd_msg.h - EPMD wire messages: builders and parsers over byte buffers
 * (erldist/epmd_msg.c). Pure: no sockets, no logging, no allocation, so the
 * unit tests and the fuzzer drive exactly the code the daemon runs.
 *
 * Contract: every parser checks a length before it reads the bytes it covers,
 * writes its out-parameters only on success and returns 0, -EAGAIN (need more
 * bytes) or a negative errno. Requests are Len:16 + body
 * (1 <= Len < RC_EPMD_MAX_REQ); responses are unprefixed.
 * Wire facts: docs/protocol.md, "EPMD"; details: docs/epmd.md.
 */
#ifndef ROLLCALL_EPMD_MSG_H
#define ROLLCALL_EPMD_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_EPMD_MAX_REQ 3060
#define RC_EPMD_ALIVE_MAX 255

#define RC_EPMD_ALIVE2_REQ 120
#define RC_EPMD_ALIVE2_RESP 121
#define RC_EPMD_ALIVE2_X_RESP 118
#define RC_EPMD_PORT_PLEASE2_REQ 122
#define RC_EPMD_PORT2_RESP 119
#define RC_EPMD_NAMES_REQ 110

/* What a node registers / what PORT2_RESP reports. */
struct rc_epmd_node_info {
    uint16_t port;
    uint8_t node_type; /* 77 normal, 72 hidden */
    uint8_t protocol;  /* 0 = tcp/ipv4 */
    uint16_t high, low;
    char alive[RC_EPMD_ALIVE_MAX + 1];
};

/* ALIVE2_REQ with Len:16 prefix: High 6, Low 5, NodeType 77, Protocol 0, no extra. */
int rc_epmd_build_alive2_req(uint8_t *out, size_t cap, size_t *ret_len, uint16_t port,
                             const char *alive);
/* Parses ALIVE2_X_RESP (or ALIVE2_RESP). 0 ok with creation; -EAGAIN need more bytes;
 * -EEXIST the name is taken (Result != 0); -EPROTO malformed. */
int rc_epmd_parse_alive2_resp(const uint8_t *buf, size_t len, uint32_t *ret_creation);

/* PORT_PLEASE2_REQ with Len:16 prefix. alive = the part before '@'. */
int rc_epmd_build_port_please2_req(uint8_t *out, size_t cap, size_t *ret_len, const char *alive);
/* Parses PORT2_RESP read until EOF (eof true) or so far (eof false).
 * 0 ok; -EAGAIN need more; -ENOENT not registered (Result > 0); -EPROTO malformed. */
int rc_epmd_parse_port2_resp(const uint8_t *buf, size_t len, bool eof,
                             struct rc_epmd_node_info *ret);

/* Server side: one parsed request. */
struct rc_epmd_req {
    uint8_t type;                  /* RC_EPMD_*_REQ */
    struct rc_epmd_node_info info; /* ALIVE2: what registers; PORT_PLEASE2: info.alive */
};
/* Parses one request from the bytes received so far. 0 and *ret_used; -EAGAIN
 * need more; -EMSGSIZE Len out of range; -EPROTO malformed or unknown type. */
int rc_epmd_parse_req(const uint8_t *buf, size_t len, size_t *ret_used, struct rc_epmd_req *ret);
/* Responses (unprefixed). result 0 = ok. */
int rc_epmd_build_alive2_x_resp(uint8_t *out, size_t cap, size_t *ret_len, uint8_t result,
                                uint32_t creation);
int rc_epmd_build_port2_resp(uint8_t *out, size_t cap, size_t *ret_len,
                             const struct rc_epmd_node_info *info /* NULL = not found */);

#endif
