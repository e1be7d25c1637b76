/*
 * rpc.c - rex calls in flight on a node (include/rollcall/rpc.h).
 *
 * Each call owns a pid of this node (number 1..RC_RPC_PID_NUM_MAX, serial
 * 1..RC_RPC_PID_SERIAL_MAX; serial 0 is left to the node's own ping pid), a
 * timer, and a place in a short list. A reply is matched by the pid it is
 * addressed to and the peer it came from; anything else the node hands over
 * is dropped here without a word (it has been validated by the node
 * already). Callbacks are only ever made from the loop: a timeout from the
 * call's timer, a reply from the node's read callback.
 */
#include "rollcall/rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "rollcall/msg.h"
#include "rollcall/node.h"

struct rc_rpc_call {
    struct rc_rpc_call *next, *prev;
    struct rc_rpc *rpc;
    char peer[RC_NAME_MAX + 1];
    uint32_t num, serial;
    struct event *timer;
    rc_rpc_cb cb;
    void *arg;
};

struct rc_rpc {
    struct event_base *base;
    struct rc_node *node;
    struct rc_rpc_call *calls;
    size_t ncalls;
    uint32_t next_num, next_serial;
};

static void call_unlink(struct rc_rpc_call *c)
{
    struct rc_rpc *r = c->rpc;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        r->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    r->ncalls--;
}

static void call_free(struct rc_rpc_call *c)
{
    call_unlink(c);
    event_free(c->timer);
    free(c);
}

static void call_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_rpc_call *c = arg;
    rc_rpc_cb cb = c->cb;
    void *cbarg = c->arg;

    call_free(c);
    cb(cbarg, -ETIMEDOUT, NULL);
}

static void on_message(void *arg, const char *peer, const uint8_t *pkt, size_t len)
{
    struct rc_rpc *r = arg;
    struct rc_rpc_reply reply;

    if (r->ncalls == 0 || rc_rpc_parse_reply(pkt, len, &reply) != 0)
        return;
    if (strcmp(reply.to_node, rc_node_name(r->node)) != 0)
        return;
    for (struct rc_rpc_call *c = r->calls; c != NULL; c = c->next) {
        if (c->num == reply.to_num && c->serial == reply.to_serial && strcmp(c->peer, peer) == 0) {
            rc_rpc_cb cb = c->cb;
            void *cbarg = c->arg;

            call_free(c);
            cb(cbarg, 0, &reply);
            return;
        }
    }
}

struct rc_rpc *rc_rpc_new(struct event_base *base, struct rc_node *node)
{
    struct rc_rpc *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->base = base;
    r->node = node;
    r->next_num = 1;
    r->next_serial = 1;
    rc_node_on_message(node, on_message, r);
    return r;
}

void rc_rpc_free(struct rc_rpc *r)
{
    if (r == NULL)
        return;
    rc_node_on_message(r->node, NULL, NULL);
    while (r->calls != NULL)
        call_free(r->calls);
    free(r);
}

/* The next (number, serial) pair, skipping any still in flight. */
static void next_pid(struct rc_rpc *r, uint32_t *num, uint32_t *serial)
{
    for (;;) {
        bool busy = false;

        *num = r->next_num;
        *serial = r->next_serial;
        if (++r->next_num > RC_RPC_PID_NUM_MAX) {
            r->next_num = 1;
            if (++r->next_serial > RC_RPC_PID_SERIAL_MAX)
                r->next_serial = 1;
        }
        for (struct rc_rpc_call *c = r->calls; c != NULL && !busy; c = c->next)
            busy = c->num == *num && c->serial == *serial;
        if (!busy)
            return;
    }
}

int rc_rpc_call(struct rc_rpc *r, const char *peer, const char *mod, const char *fun,
                const uint8_t *args, size_t args_len, uint64_t timeout_ms, rc_rpc_cb cb, void *arg,
                struct rc_rpc_call **ret_call)
{
    uint8_t pkt[RC_MSG_OUT_MAX];
    size_t len;
    struct rc_rpc_call *c;
    uint32_t num, serial;
    int rv;
    struct timeval tv;

    if (r == NULL || cb == NULL || !rc_node_name_valid(peer))
        return -EINVAL;
    if (r->ncalls >= RC_RPC_MAX_INFLIGHT)
        return -EBUSY;
    next_pid(r, &num, &serial);
    rv = rc_rpc_build_call(pkt, sizeof pkt, &len, rc_node_name(r->node), rc_node_creation(r->node),
                           num, serial, mod, fun, args, args_len);
    if (rv != 0)
        return rv;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->timer = evtimer_new(r->base, call_timeout_cb, c);
    if (c->timer == NULL) {
        free(c);
        return -ENOMEM;
    }
    rv = rc_node_send(r->node, peer, pkt, len);
    if (rv != 0) {
        event_free(c->timer);
        free(c);
        return rv;
    }
    c->rpc = r;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->num = num;
    c->serial = serial;
    c->cb = cb;
    c->arg = arg;
    c->next = r->calls;
    if (r->calls != NULL)
        r->calls->prev = c;
    r->calls = c;
    r->ncalls++;
    tv.tv_sec = (time_t)(timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    if (ret_call != NULL)
        *ret_call = c;
    return 0;
}

void rc_rpc_cancel(struct rc_rpc_call *c)
{
    if (c != NULL)
        call_free(c);
}

int rc_rpc_send(struct rc_rpc *r, const char *peer, const char *to_name, const uint8_t *msg,
                size_t msg_len)
{
    uint8_t pkt[RC_MSG_OUT_MAX];
    size_t len;
    int rv;

    if (r == NULL || !rc_node_name_valid(peer))
        return -EINVAL;
    rv = rc_rpc_build_send(pkt, sizeof pkt, &len, rc_node_name(r->node), rc_node_creation(r->node),
                           RC_RPC_PID_NUM_MAX, to_name, msg, msg_len);
    if (rv != 0)
        return rv;
    return rc_node_send(r->node, peer, pkt, len);
}
