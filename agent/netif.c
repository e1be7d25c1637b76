/*
 * netif.c - this host's interface addresses (getifaddrs).
 */
#include "rollcall/netif.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>

int rc_first_global_ipv4(char *out, size_t outlen)
{
    struct ifaddrs *ifa, *p;
    int rv = -ENOENT;

    if (getifaddrs(&ifa) < 0)
        return -errno;
    for (p = ifa; p != NULL; p = p->ifa_next) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)p->ifa_addr;
        uint32_t a;

        if (sin == NULL || sin->sin_family != AF_INET || (p->ifa_flags & IFF_UP) == 0 ||
            (p->ifa_flags & IFF_LOOPBACK) != 0)
            continue;
        a = ntohl(sin->sin_addr.s_addr);
        if (a == 0 || (a >> 24) == 127 || (a >> 16) == 0xA9FE) /* 0.0.0.0, 127/8, 169.254/16 */
            continue;
        rv = inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)outlen) != NULL ? 0 : -ENOSPC;
        break;
    }
    freeifaddrs(ifa);
    return rv;
}
