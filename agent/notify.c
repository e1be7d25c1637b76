/*
 * notify.c - sd_notify and JOURNAL_STREAM without libsystemd (contract in
 * notify.h).
 */
#include "rollcall/notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

bool rc_notify_enabled(void)
{
    const char *p = getenv("NOTIFY_SOCKET");
    return p != NULL && p[0] != '\0';
}

int rc_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    socklen_t salen;
    size_t plen;
    ssize_t n;
    int fd, rc = 0;

    if (path == NULL || path[0] == '\0')
        return 0;
    plen = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || plen >= sizeof sa.sun_path)
        return -EINVAL;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, plen);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/' ? 1 : 0));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    do
        n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        rc = -errno;
    close(fd);
    return rc;
}

uint64_t rc_notify_watchdog_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    char *end;
    unsigned long long v;
    if (usec == NULL || usec[0] == '\0')
        return 0;
    if (pid != NULL && pid[0] != '\0') {
        unsigned long long p = strtoull(pid, &end, 10);
        if (*end != '\0' || p != (unsigned long long)getpid())
            return 0;
    }
    errno = 0;
    v = strtoull(usec, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0)
        return 0;
    v /= 2000; /* half the period, in ms */
    return v != 0 ? v : 1;
}

void rc_notify_status(char *out, size_t cap, size_t answering, size_t peers, const char *extra)
{
    snprintf(out, cap, "STATUS=%zu of %zu peers answer%s%s", answering, peers,
             extra != NULL && extra[0] != '\0' ? ", " : "", extra != NULL ? extra : "");
}

bool rc_journal_is_stderr(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char tail;
    if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
