/*
 * epmd_keeper.c - the registration keeper: keeps our node findable through
 * EPMD on this host, by registering with the system epmd or by serving the
 * embedded one (epmd_server.c).
 *
 * Shape: the keeper holds the ALIVE2 socket open (the registration lives as
 * long as that connection) and only ever reads it: EOF or any byte means the
 * EPMD is gone, and the periodic check registers again or, in auto mode,
 * takes the port over with the embedded server, which then holds it for
 * good. The ALIVE2 itself is one client exchange (epmd_int.h). The keeper
 * is the one EPMD part that logs state changes: `epmd: none -> system: ...`.
 */
#include "rollcall/epmd_keeper.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "epmd_int.h"
#include "rollcall/epmd_server.h"
#include "rollcall/log.h"

#define REGISTER_TIMEOUT_MS 5000 /* an EPMD that accepts but never answers ALIVE2 */
#define MIN_CHECK_MS 10

enum epmd_state { ST_NONE, ST_SYSTEM, ST_EMBEDDED, ST_OFF };

struct rc_epmd {
    struct event_base *base;
    enum rc_epmd_mode mode;
    enum epmd_state state;
    uint16_t epmd_port, dist_port;
    char alive[RC_EPMD_ALIVE_MAX + 1];
    uint64_t check_ms;
    uint32_t creation;
    uint32_t bind_addr; /* network byte order; INADDR_ANY = every interface */

    /* registration with the EPMD on 127.0.0.1 (auto, system) */
    struct event *ev_check;
    struct rc_epmd_xchg reg;
    uint32_t reg_creation; /* from the ALIVE2 answer being parsed */
    int reg_fd;            /* the held registration socket, -1 none */
    struct event *ev_reg;  /* watches it for EOF */
    int last_fail;         /* the last failure logged at warn */
    struct rc_ratelimit rl_fail;

    /* the embedded server (auto after a takeover, embedded) */
    struct rc_epmd_server *srv;
};

static const char *state_str(enum epmd_state st)
{
    switch (st) {
    case ST_SYSTEM:
        return "system";
    case ST_EMBEDDED:
        return "embedded";
    case ST_OFF:
        return "off";
    case ST_NONE:
        break;
    }
    return "none";
}

static void set_state(struct rc_epmd *e, enum epmd_state st, const char *why)
{
    if (e->state == st)
        return;
    rc_log_info("epmd: %s -> %s: %s", state_str(e->state), state_str(st), why);
    e->state = st;
}

static const char *fail_str(int r, char *buf, size_t cap)
{
    switch (r) {
    case -EEXIST:
        return "the name is already registered there (another node with this name on this "
               "host?)";
    case -ECONNREFUSED:
        return "no epmd is listening";
    case -ETIMEDOUT:
        return "no answer";
    case -ECONNRESET:
        return "it closed the connection without answering";
    case -EPROTO:
        return "malformed answer";
    default:
        snprintf(buf, cap, "%s", strerror(-r));
        return buf;
    }
}

/* Warns when the reason changes, and at most once a minute while it stays. */
static void note_failure(struct rc_epmd *e, int r, const char *what)
{
    char buf[128];
    uint32_t suppressed = 0;
    uint64_t now = rc_now_mono_ms();
    enum rc_log_level lvl;

    if (r != e->last_fail)
        e->rl_fail = (struct rc_ratelimit){0};
    lvl = rc_ratelimit_allow(&e->rl_fail, now, 1, RC_EPMD_WARN_WINDOW_MS, &suppressed)
              ? RC_LOG_WARN
              : RC_LOG_DEBUG;
    rc_log(lvl, "epmd: %s %s on port %u: %s; retrying every %llu ms", what, e->alive, e->epmd_port,
           fail_str(r, buf, sizeof(buf)), (unsigned long long)e->check_ms);
    e->last_fail = r;
}

static void become_embedded(struct rc_epmd *e)
{
    char why[96];
    int r;

    e->srv = rc_epmd_server_new_at(e->base, e->bind_addr, e->epmd_port, e->alive, e->dist_port);
    r = e->srv == NULL ? -errno : 0;
    if (r == -EADDRINUSE && e->last_fail != r) {
        /* An epmd (or another agent taking over) bound the port since the
         * refused connect: the normal race, register with it next time.
         * Only a second time in a row is worth a warning. */
        rc_log_info("epmd: port %u was taken meanwhile (an epmd starting?); registering with it "
                    "within %llu ms",
                    e->epmd_port, (unsigned long long)e->check_ms);
        e->last_fail = r;
        e->rl_fail = (struct rc_ratelimit){0};
        return;
    }
    if (r < 0) {
        note_failure(e, r, "cannot serve an embedded epmd for");
        return;
    }
    e->creation = rc_epmd_time_creation(e->creation);
    e->last_fail = 0;
    snprintf(why, sizeof(why), "serving an embedded epmd on port %u (creation %u)", e->epmd_port,
             e->creation);
    set_state(e, ST_EMBEDDED, why);
}

static void reg_watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_epmd *e = arg;
    const char *why;
    uint8_t b;
    ssize_t n;

    n = recv(fd, &b, 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    why = n == 0 ? "closed" : n > 0 ? "sent unexpected bytes" : strerror(errno);
    event_free(e->ev_reg);
    e->ev_reg = NULL;
    close(e->reg_fd);
    e->reg_fd = -1;
    rc_log_warn("epmd: the epmd on port %u %s: registration of %s lost; redoing it within "
                "%llu ms",
                e->epmd_port, why, e->alive, (unsigned long long)e->check_ms);
    set_state(e, ST_NONE, "registration lost");
}

static int reg_complete(struct rc_epmd_xchg *x, bool eof)
{
    struct rc_epmd *e = rc_epmd_container_of(x, struct rc_epmd, reg);
    int r;

    r = rc_epmd_parse_alive2_resp(x->in, x->inlen, &e->reg_creation);
    return r == -EAGAIN && eof ? -ECONNRESET : r;
}

static void reg_done(struct rc_epmd_xchg *x, int result)
{
    struct rc_epmd *e = rc_epmd_container_of(x, struct rc_epmd, reg);
    char why[RC_EPMD_ALIVE_MAX + 96];

    if (result < 0) {
        rc_epmd_xchg_cleanup(x);
        if (result == -ECONNREFUSED && e->mode == RC_EPMD_AUTO)
            become_embedded(e);
        else
            note_failure(e, result, "cannot register");
        return;
    }
    /* Keep the socket: the registration lives as long as it does. */
    e->reg_fd = x->fd;
    x->fd = -1;
    rc_epmd_xchg_cleanup(x);
    e->ev_reg = event_new(e->base, e->reg_fd, EV_READ | EV_PERSIST, reg_watch_cb, e);
    if (e->ev_reg == NULL || event_add(e->ev_reg, NULL) < 0) {
        if (e->ev_reg != NULL)
            event_free(e->ev_reg);
        e->ev_reg = NULL;
        close(e->reg_fd);
        e->reg_fd = -1;
        note_failure(e, -ENOMEM, "cannot watch the registration of");
        return;
    }
    e->creation = e->reg_creation;
    e->last_fail = 0;
    snprintf(why, sizeof(why), "registered %s (port %u) with the epmd on port %u, creation %u",
             e->alive, e->dist_port, e->epmd_port, e->creation);
    set_state(e, ST_SYSTEM, why);
}

static void reg_start(struct rc_epmd *e)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET,
        .sin_port = htons(e->epmd_port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    int r;

    /* A node bound to one loopback address has its EPMD there. */
    if ((ntohl(e->bind_addr) >> 24) == 127)
        sin.sin_addr.s_addr = e->bind_addr;

    rc_epmd_xchg_init(&e->reg);
    e->reg.complete = reg_complete;
    e->reg.done = reg_done;
    r = rc_epmd_build_alive2_req(e->reg.out, sizeof(e->reg.out), &e->reg.outlen, e->dist_port,
                                 e->alive);
    if (r == 0)
        r = rc_epmd_xchg_start(&e->reg, e->base, (struct sockaddr *)&sin, sizeof(sin),
                               REGISTER_TIMEOUT_MS);
    if (r < 0)
        note_failure(e, r, "cannot register");
}

static void check_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_epmd *e = arg;

    /* Embedded holds the port for good; a held registration is watched; an
     * attempt in flight ends by itself (REGISTER_TIMEOUT_MS at most). */
    if (e->state == ST_EMBEDDED || e->reg_fd >= 0 || rc_epmd_xchg_busy(&e->reg))
        return;
    reg_start(e);
}

/* ---- public ---- */

static bool alive_ok(const char *alive)
{
    return alive != NULL && alive[0] != '\0' && strlen(alive) <= RC_EPMD_ALIVE_MAX &&
           strchr(alive, '@') == NULL;
}

struct rc_epmd *rc_epmd_new(struct event_base *base, enum rc_epmd_mode mode, uint16_t epmd_port,
                            const char *alive, uint16_t dist_port, uint64_t check_interval_ms,
                            char *err, size_t errlen)
{
    return rc_epmd_new_at(base, mode, htonl(INADDR_ANY), epmd_port, alive, dist_port,
                          check_interval_ms, err, errlen);
}

struct rc_epmd *rc_epmd_new_at(struct event_base *base, enum rc_epmd_mode mode, uint32_t bind_addr,
                               uint16_t epmd_port, const char *alive, uint16_t dist_port,
                               uint64_t check_interval_ms, char *err, size_t errlen)
{
    struct rc_epmd *e;
    struct timeval tv;
    char why[64];

    if (base == NULL || !alive_ok(alive)) {
        snprintf(err, errlen, "epmd: invalid node name '%s'", alive != NULL ? alive : "");
        return NULL;
    }
    if (mode != RC_EPMD_OFF && epmd_port == 0) {
        snprintf(err, errlen, "epmd: port 0");
        return NULL;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        snprintf(err, errlen, "epmd: out of memory");
        return NULL;
    }
    e->base = base;
    e->mode = mode;
    e->state = mode == RC_EPMD_OFF ? ST_OFF : ST_NONE;
    e->epmd_port = epmd_port;
    e->dist_port = dist_port;
    e->bind_addr = bind_addr;
    snprintf(e->alive, sizeof(e->alive), "%s", alive);
    e->check_ms = check_interval_ms < MIN_CHECK_MS ? MIN_CHECK_MS : check_interval_ms;
    e->creation = rc_epmd_time_creation(0);
    e->reg_fd = -1;
    rc_epmd_xchg_init(&e->reg);

    switch (mode) {
    case RC_EPMD_EMBEDDED:
        e->srv = rc_epmd_server_new_at(base, bind_addr, epmd_port, e->alive, dist_port);
        if (e->srv == NULL) {
            snprintf(err, errlen, "epmd: cannot listen on port %u: %s", epmd_port, strerror(errno));
            free(e);
            return NULL;
        }
        snprintf(why, sizeof(why), "serving an embedded epmd on port %u", epmd_port);
        set_state(e, ST_EMBEDDED, why);
        break;
    case RC_EPMD_AUTO:
    case RC_EPMD_SYSTEM:
        tv = rc_epmd_ms_tv(e->check_ms);
        e->ev_check = event_new(base, -1, EV_PERSIST, check_cb, e);
        if (e->ev_check == NULL || event_add(e->ev_check, &tv) < 0) {
            snprintf(err, errlen, "epmd: out of memory");
            rc_epmd_free(e);
            return NULL;
        }
        check_cb(-1, 0, e); /* the first attempt now, not one interval late */
        break;
    case RC_EPMD_OFF:
        break;
    }
    return e;
}

uint32_t rc_epmd_creation(const struct rc_epmd *e)
{
    return e != NULL ? e->creation : rc_epmd_time_creation(0);
}

const char *rc_epmd_state(const struct rc_epmd *e)
{
    return e != NULL ? state_str(e->state) : "none";
}

void rc_epmd_free(struct rc_epmd *e)
{
    if (e == NULL)
        return;
    if (e->ev_check != NULL)
        event_free(e->ev_check);
    rc_epmd_xchg_cleanup(&e->reg);
    if (e->ev_reg != NULL)
        event_free(e->ev_reg);
    if (e->reg_fd >= 0)
        close(e->reg_fd);
    rc_epmd_server_free(e->srv);
    free(e);
}
