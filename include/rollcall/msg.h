/*
 * msg.h - distribution messages rollcall understands (erldist/msg.c).
 *
 * After the handshake every packet is Len:32 + data. rc_msg_parse reads the
 * data part (without the 4-byte length) of one non-empty packet and says what
 * it is; everything else is well-formed-but-ignored (RC_MSG_OTHER) or
 * malformed (-EPROTO, the caller closes the connection). Spans returned point
 * into the caller's packet buffer and live as long as it.
 */
#ifndef ROLLCALL_MSG_H
#define ROLLCALL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/term.h"

#define RC_MSG_MAX_PACKET (64 * 1024) /* larger packets: protocol_error */
#define RC_MSG_OUT_MAX 2048           /* enough for any message we build */

enum rc_msg_kind {
    RC_MSG_OTHER = 0, /* well-formed, not for us: drop it */
    RC_MSG_IS_AUTH,   /* REG_SEND to net_kernel {'$gen_call', {Pid, Tag}, {is_auth, Node}} */
    RC_MSG_REPLY,     /* SEND / SEND_SENDER carrying {Ref, Answer} */
};

struct rc_msg {
    enum rc_msg_kind kind;
    /* RC_MSG_IS_AUTH: raw encoded terms (no 131 prefix) to echo byte for byte */
    const uint8_t *from_pid;
    size_t from_pid_len;
    const uint8_t *tag;
    size_t tag_len;
    /* RC_MSG_REPLY: the reference's id words and whether Answer was 'yes' */
    uint32_t ref_ids[5];
    uint32_t ref_nids;
    uint32_t ref_creation;
    char ref_node[256]; /* the reference's node (ours, for a reply to us), NUL-terminated */
    bool yes;
};

/* Parses one packet (first byte must be 112 PASS_THROUGH, then 131 control
 * [131 message]). Returns 0 and fills ret, or -EPROTO / -EMSGSIZE. */
int rc_msg_parse(const uint8_t *pkt, size_t len, struct rc_msg *ret);

/* Builds our ping: Len:32, 112, 131 {6, MyPid, '', net_kernel},
 * 131 {'$gen_call', {MyPid, Ref}, {is_auth, self_node}} with a plain
 * NEWER_REFERENCE (3 ids) as Ref. MyPid = NEW_PID(self_node, pid_id, 0, creation).
 * Returns 0 and the total length, or -EMSGSIZE. */
int rc_msg_build_is_auth(uint8_t *out, size_t cap, size_t *ret_len, const char *self_node,
                         uint32_t creation, uint32_t pid_id, const uint32_t ref_ids[3]);

/* Builds the answer to an RC_MSG_IS_AUTH: Len:32, 112, 131 {2, '', FromPid},
 * 131 {Tag, yes}, echoing FromPid and Tag byte for byte. */
int rc_msg_build_is_auth_reply(uint8_t *out, size_t cap, size_t *ret_len, const struct rc_msg *req);

/* The first pass every packet parser makes (msg.c, probe.c, rpc_msg.c):
 * checks 112 PASS_THROUGH, then 131 control [131 message] and that the terms
 * are whole and fill the packet exactly. Sets *ret_ctl to the control term's
 * offset and *ret_msg to the message's (0 = control only). Returns 0 or
 * -EPROTO; the caller checks RC_MSG_MAX_PACKET first. */
int rc_msg_split(const uint8_t *pkt, size_t len, size_t *ret_ctl, size_t *ret_msg);

/* Packet framing shared by every message builder (msg.c, rpc_msg.c, probe.c):
 * rc_msg_packet_start writes the Len:32 placeholder and 112 PASS_THROUGH;
 * rc_msg_packet_finish fills in the length, returns 0 and the total length,
 * or the encoder's error (-EMSGSIZE). */
#define RC_MSG_PASS_THROUGH 112
void rc_msg_packet_start(struct rc_term_enc *e, uint8_t *out, size_t cap);
int rc_msg_packet_finish(struct rc_term_enc *e, size_t *ret_len);

/* Control message operations (OTP dist.h DOP_*) the builders and parsers
 * share. */
enum rc_dop {
    RC_DOP_SEND = 2,
    RC_DOP_REG_SEND = 6,
    RC_DOP_SEND_TT = 12,
    RC_DOP_REG_SEND_TT = 16,
    RC_DOP_SEND_SENDER = 22,
    RC_DOP_SEND_SENDER_TT = 23,
};

/* Starts a packet to the name to_name registered on the peer (every
 * builder: net_kernel, rex, rollcall_probe, an app's name): the framing,
 * the control term {6, From, '', ToName} with From = the pid pid_num /
 * pid_serial of self_node at creation, and the message term's version
 * byte. The caller writes the message term, then rc_msg_packet_finish. */
void rc_msg_reg_send_start(struct rc_term_enc *e, uint8_t *out, size_t cap, const char *self_node,
                           uint32_t pid_num, uint32_t pid_serial, uint32_t creation,
                           const char *to_name);

#endif
