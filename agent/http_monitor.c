/*
 * http_monitor.c - `rollcall monitor`: GET /events from a running agent and
 * copy its event lines to stdout (contract in ops.h). A plain blocking
 * client: it runs as its own process, never inside the agent.
 */
#include "rollcall/ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rollcall/http.h"

static int dial(const char *addr, char *why, size_t whylen)
{
    struct sockaddr_storage ss;
    int sslen = 0, fd, r, soerr = 0;
    socklen_t elen = sizeof soerr;
    struct pollfd pfd;

    if (rc_http_parse_addr(addr, &ss, &sslen) != 0) {
        snprintf(why, whylen, "'%s' is not a numeric HOST:PORT", addr);
        return -1;
    }
    /* An agent listening on every interface is reached on loopback. */
    if (ss.ss_family == AF_INET &&
        ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY))
        ((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ss.ss_family == AF_INET6 &&
        memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0)
        ((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    r = connect(fd, (struct sockaddr *)&ss, (socklen_t)sslen);
    if (r != 0 && errno == EINPROGRESS) {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        r = poll(&pfd, 1, 3000);
        if (r == 0) {
            snprintf(why, whylen, "connect to %s timed out", addr);
            close(fd);
            return -1;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen);
        r = soerr == 0 ? 0 : -1;
        errno = soerr;
    }
    if (r != 0) {
        snprintf(why, whylen, "cannot connect to %s: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static ssize_t read_some(int fd, char *buf, size_t cap)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -1;
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return -1;
    }
}

int rc_monitor_run(const char *addr, FILE *out, unsigned max_lines)
{
    static const char req[] = "GET /events HTTP/1.1\r\nHost: rollcall\r\n\r\n";
    char why[256], head[RC_HTTP_HEAD_MAX + 1], buf[4096];
    size_t hlen = 0;
    unsigned lines = 0;
    char *body;
    int fd = dial(addr, why, sizeof why);

    if (fd < 0) {
        fprintf(stderr,
                "rollcall monitor: %s\n(is the agent running with http = %s? run monitor with "
                "the agent's -c)\n",
                why, addr);
        return 1;
    }
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        fprintf(stderr, "rollcall monitor: send: %s\n", strerror(errno));
        close(fd);
        return 1;
    }
    for (;;) {
        ssize_t n;
        if (hlen == sizeof head - 1) {
            fprintf(stderr, "rollcall monitor: the answer's head is too long\n");
            close(fd);
            return 1;
        }
        n = read_some(fd, head + hlen, sizeof head - 1 - hlen);
        if (n <= 0) {
            fprintf(stderr, "rollcall monitor: the agent closed the connection\n");
            close(fd);
            return 1;
        }
        hlen += (size_t)n;
        head[hlen] = '\0';
        body = strstr(head, "\r\n\r\n");
        if (body != NULL)
            break;
    }
    if (strncmp(head, "HTTP/1.1 200 ", 13) != 0) {
        char *eol = strstr(head, "\r\n");
        *eol = '\0';
        fprintf(stderr, "rollcall monitor: the agent answered '%s'\n", head);
        close(fd);
        return 1;
    }
    body += 4;
    {
        /* what came with the head, then the stream */
        size_t have = hlen - (size_t)(body - head);
        memmove(buf, body, have);
        for (;;) {
            size_t i;
            ssize_t n;
            for (i = 0; i < have; i++) {
                fputc(buf[i], out);
                if (buf[i] == '\n') {
                    fflush(out);
                    if (max_lines != 0 && ++lines == max_lines) {
                        close(fd);
                        return 0;
                    }
                }
            }
            n = read_some(fd, buf, sizeof buf);
            if (n <= 0)
                break;
            have = (size_t)n;
        }
    }
    fflush(out);
    fprintf(stderr, "rollcall monitor: the agent closed the stream\n");
    close(fd);
    return 1;
}

int rc_ready_run(const char *addr, FILE *out)
{
    static const char req[] = "GET /readyz HTTP/1.1\r\nHost: rollcall\r\nConnection: close\r\n\r\n";
    char why[256], buf[RC_HTTP_HEAD_MAX + 2048];
    size_t len = 0;
    const char *body;
    int fd = dial(addr, why, sizeof why);
    struct pollfd pfd;

    if (fd < 0) {
        fprintf(stderr, "rollcall ready: %s\n", why);
        return 1;
    }
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        fprintf(stderr, "rollcall ready: send: %s\n", strerror(errno));
        close(fd);
        return 1;
    }
    /* The whole answer, bounded, within 3 s. */
    pfd.fd = fd;
    pfd.events = POLLIN;
    while (len < sizeof buf - 1) {
        ssize_t n;
        if (poll(&pfd, 1, 3000) <= 0) {
            fprintf(stderr, "rollcall ready: no answer from %s within 3 s\n", addr);
            close(fd);
            return 1;
        }
        n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.1 ", 9) != 0 || body == NULL) {
        fprintf(stderr, "rollcall ready: not an HTTP answer from %s\n", addr);
        return 1;
    }
    fputs(body + 4, out);
    return strncmp(buf + 9, "200 ", 4) == 0 ? 0 : 1;
}
