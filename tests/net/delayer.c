/*
 * delayer.c - holds packets for a while: delay with jitter for the network
 * harness (tests/net/harness.py), on kernels without sch_netem.
 *
 * The harness steers a namespace's outgoing packets into an NFQUEUE
 * (iptables-nft ... -j NFQUEUE --queue-num Q --queue-bypass); this program
 * takes each one, draws a hold time uniformly from [delay - jitter, delay +
 * jitter] ms (netem's default jitter model, so packets may be reordered) and
 * accepts it when that time has passed. Only the packet id travels to user
 * space (NFQNL_COPY_META); payloads stay in the kernel.
 *
 *   delayer --queue Q --delay-ms D [--jitter-ms J]
 *
 * Runs until SIGTERM or SIGINT, then accepts every held packet and exits 0.
 * Exits 1 with a reason on stderr if the queue cannot be bound. A test
 * tool, not part of the agent: it logs to stderr as it likes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>

#define MAX_HELD 65536

struct held {
    uint64_t due_us;
    uint32_t id;
};

static struct held heap[MAX_HELD];
static size_t nheld;
static volatile sig_atomic_t stopping;
static uint64_t delay_us, jitter_us;
static uint64_t overflowed;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rnd64(void)
{
    static uint64_t s;
    if (s == 0) {
        if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
            s = now_us();
        s |= 1;
    }
    /* xorshift64* */
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
}

static void heap_push(struct held h)
{
    size_t i = nheld++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap[parent].due_us <= h.due_us)
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = h;
}

static struct held heap_pop(void)
{
    struct held top = heap[0];
    struct held last = heap[--nheld];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint64_t mv = last.due_us;
        if (l < nheld && heap[l].due_us < mv) {
            m = l;
            mv = heap[l].due_us;
        }
        if (r < nheld && heap[r].due_us < mv)
            m = r;
        if (m == i)
            break;
        heap[i] = heap[m];
        i = m;
    }
    if (nheld > 0)
        heap[i] = last;
    return top;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *data)
{
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    struct held h;
    uint64_t hold;

    if (ph == NULL)
        return 0;
    h.id = ntohl(ph->packet_id);
    if (nheld == MAX_HELD) {
        overflowed++;
        return nfq_set_verdict(qh, h.id, NF_ACCEPT, 0, NULL);
    }
    hold = delay_us;
    if (jitter_us != 0) {
        uint64_t span = 2 * jitter_us + 1;
        hold = delay_us - (jitter_us < delay_us ? jitter_us : delay_us) + rnd64() % span;
    }
    h.due_us = now_us() + hold;
    heap_push(h);
    return 0;
}

static void on_signal(int sig)
{
    stopping = 1;
}

static int parse_ms(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > 60000)
        return -EINVAL;
    *out = (uint64_t)v * 1000u;
    return 0;
}

int main(int argc, char **argv)
{
    struct nfq_handle *h;
    struct nfq_q_handle *qh;
    struct sigaction sa;
    unsigned long queue = ULONG_MAX;
    static char buf[65536];
    int fd;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--queue") == 0) {
            queue = strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--delay-ms") == 0) {
            if (parse_ms(argv[i + 1], &delay_us) != 0)
                goto usage;
        } else if (strcmp(argv[i], "--jitter-ms") == 0) {
            if (parse_ms(argv[i + 1], &jitter_us) != 0)
                goto usage;
        } else {
            goto usage;
        }
    }
    if (queue > 65535 || argc % 2 == 0)
        goto usage;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    h = nfq_open();
    if (h == NULL) {
        fprintf(stderr, "delayer: nfq_open: %s\n", strerror(errno));
        return 1;
    }
    qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
    if (qh == NULL) {
        fprintf(stderr, "delayer: cannot bind queue %lu: %s\n", queue, strerror(errno));
        nfq_close(h);
        return 1;
    }
    if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(qh, MAX_HELD) < 0) {
        fprintf(stderr, "delayer: cannot configure queue %lu: %s\n", queue, strerror(errno));
        nfq_destroy_queue(qh);
        nfq_close(h);
        return 1;
    }
    nfnl_rcvbufsiz(nfq_nfnlh(h), 8 * 1024 * 1024);
    fd = nfq_fd(h);
    fprintf(stderr, "delayer: queue %lu, delay %llu ms, jitter %llu ms\n", queue,
            (unsigned long long)(delay_us / 1000), (unsigned long long)(jitter_us / 1000));

    while (stopping == 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int timeout = 100;
        uint64_t now = now_us();

        while (nheld > 0 && heap[0].due_us <= now) {
            struct held d = heap_pop();
            nfq_set_verdict(qh, d.id, NF_ACCEPT, 0, NULL);
        }
        if (nheld > 0) {
            uint64_t wait = (heap[0].due_us - now + 999) / 1000;
            timeout = wait < 100 ? (int)wait : 100;
        }
        if (poll(&pfd, 1, timeout) > 0) {
            for (;;) {
                ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n < 0) {
                    if (errno == ENOBUFS) {
                        overflowed++;
                        continue;
                    }
                    break;
                }
                nfq_handle_packet(h, buf, (int)n);
            }
        }
    }
    while (nheld > 0) {
        struct held d = heap_pop();
        nfq_set_verdict(qh, d.id, NF_ACCEPT, 0, NULL);
    }
    if (overflowed != 0)
        fprintf(stderr, "delayer: %llu packets passed undelayed (queue full)\n",
                (unsigned long long)overflowed);
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 0;

usage:
    fprintf(stderr, "usage: delayer --queue Q --delay-ms D [--jitter-ms J]\n");
    return 2;
}
