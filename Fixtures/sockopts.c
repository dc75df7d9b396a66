/* Socket options and binding rules come back as the program set them:
 * SO_KEEPALIVE and the TCP keepalive knobs, SO_LINGER, SO_PRIORITY,
 * SO_RCVLOWAT, SO_RCVTIMEO, a locked receive buffer (SO_RCVBUF and
 * SO_BUF_LOCK), SO_ATTACH_FILTER, SO_PASSCRED on a UNIX socket,
 * IPV6_V6ONLY, IP_TTL/IP_TOS; a UDP socket bound with IP_FREEBIND to an
 * address this host does not have, then FREEBIND turned off; two
 * listeners sharing a port with SO_REUSEPORT, one of which then turned
 * it off; UNIX stream and seqpacket sockets never connected; a UDP socket
 * shut for writing; a datagram socketpair whose sender
 * closed with a message still queued. Every
 * option is checked against what was set, and so is one left at its
 * default. Usage: sockopts SEED (values vary with the seed). */
#include "fixture.h"
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72
#endif

static int get_int(int fd, int level, int name) {
    int v = -12345;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) != 0) return -12345;
    return v;
}

static void expect(int fd, int level, int name, const char *what, int want) {
    int got = get_int(fd, level, name);
    if (got != want) fail("%s is %d, want %d", what, got, want);
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)atoi(argv[1]) : 1;
    srand(seed);
    int idle = 30 + rand() % 600, interval = 5 + rand() % 60, count = 2 + rand() % 8, priority = 1 + rand() % 6;
    int lowat = 1 + rand() % 64, ttl = 2 + rand() % 200, linger_s = 1 + rand() % 30;
    int rcvbuf = 8192 + 1024 * (rand() % 64);
    int one = 1, zero = 0;

    /* A TCP socket with its knobs set (not connected). */
    int t = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(t, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(t, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(t, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(t, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    /* TCP's own knobs, each on or off by the seed where both differ from a new socket. */
    int cork = rand() % 2, nodelay = rand() % 2, syncnt = 1 + rand() % 10, linger2 = 5 + rand() % 100;
    int notsent = 4096 + 512 * (rand() % 64), thin = rand() % 2;
    setsockopt(t, IPPROTO_TCP, TCP_CORK, &cork, sizeof cork);
    setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
    setsockopt(t, IPPROTO_TCP, TCP_SYNCNT, &syncnt, sizeof syncnt);
    setsockopt(t, IPPROTO_TCP, TCP_LINGER2, &linger2, sizeof linger2);
    setsockopt(t, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &notsent, sizeof notsent);
    setsockopt(t, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, &thin, sizeof thin);
    if (setsockopt(t, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) != 0) fail("TCP_CONGESTION reno: %s", strerror(errno));
    /* A listener that defers accept: read back as the kernel rounds it. */
    int deferred = socket(AF_INET6, SOCK_STREAM, 0), defer_s = 1 + rand() % 20;
    setsockopt(deferred, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s);
    defer_s = get_int(deferred, IPPROTO_TCP, TCP_DEFER_ACCEPT);
    struct linger lg = { 1, linger_s };
    setsockopt(t, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    setsockopt(t, SOL_SOCKET, SO_PRIORITY, &priority, sizeof priority);
    setsockopt(t, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
    struct timeval tv = { 3, 250000 };
    setsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(t, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int rcvbuf_set = get_int(t, SOL_SOCKET, SO_RCVBUF);
    struct timeval tv_set = { 0, 0 };  /* in jiffies: read back rounded */
    socklen_t tl = sizeof tv_set;
    getsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &tv_set, &tl);

    /* UDP: a filter that accepts everything, TTL and TOS. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, 0xffff) };
    struct sock_fprog prog = { 1, code };
    if (setsockopt(u, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) fail("SO_ATTACH_FILTER: %s", strerror(errno));
    setsockopt(u, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    int tos = IPTOS_THROUGHPUT;
    setsockopt(u, IPPROTO_IP, IP_TOS, &tos, sizeof tos);

    /* FREEBIND: bound where this host has no address, then turned off. */
    int fb = socket(AF_INET, SOCK_DGRAM, 0);
    setsockopt(fb, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    struct sockaddr_in away = { .sin_family = AF_INET, .sin_port = htons(40000 + seed % 20000) };
    inet_pton(AF_INET, "192.0.2.77", &away.sin_addr);
    if (bind(fb, (struct sockaddr *)&away, sizeof away) != 0) fail("bind with IP_FREEBIND: %s", strerror(errno));
    setsockopt(fb, IPPROTO_IP, IP_FREEBIND, &zero, sizeof zero);

    /* Two listeners on one port with SO_REUSEPORT; the first turns it off. */
    int l1 = socket(AF_INET, SOCK_STREAM, 0), l2 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof la;
    setsockopt(l1, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(l2, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(l1, (struct sockaddr *)&la, sizeof la) != 0 || listen(l1, 4) != 0) fail("listen 1");
    getsockname(l1, (struct sockaddr *)&la, &len);
    if (bind(l2, (struct sockaddr *)&la, sizeof la) != 0 || listen(l2, 4) != 0) fail("listen 2 on the same port");
    setsockopt(l1, SOL_SOCKET, SO_REUSEPORT, &zero, sizeof zero);

    /* IPv6 only, and a UNIX socket passing credentials. */
    int v6 = socket(AF_INET6, SOCK_STREAM, 0);
    int v6only = v6 >= 0 && setsockopt(v6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0;
    int un = socket(AF_UNIX, SOCK_DGRAM, 0);
    setsockopt(un, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    /* Never connected: no queue to read (the kernel says EINVAL, ENOTCONN). */
    int us = socket(AF_UNIX, SOCK_STREAM, 0), usp = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    /* UDP shut for writing. */
    int uw = socket(AF_INET, SOCK_DGRAM, 0), ur = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(ur, (struct sockaddr *)&lo, sizeof lo);
    len = sizeof lo;
    getsockname(ur, (struct sockaddr *)&lo, &len);
    connect(uw, (struct sockaddr *)&lo, sizeof lo);
    shutdown(uw, SHUT_WR);
    /* A datagram pair whose sender closed, a message still queued. */
    int dp[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, dp);
    send(dp[1], "left", 4, 0);
    close(dp[1]);

    ready();
    wait_for_term();

    expect(t, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", 1);
    expect(t, IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", idle);
    expect(t, IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", interval);
    expect(t, IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", count);
    expect(t, IPPROTO_TCP, TCP_CORK, "TCP_CORK", cork);
    expect(t, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", nodelay);
    expect(t, IPPROTO_TCP, TCP_SYNCNT, "TCP_SYNCNT", syncnt);
    expect(t, IPPROTO_TCP, TCP_LINGER2, "TCP_LINGER2", linger2);
    expect(t, IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT", notsent);
    expect(t, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, "TCP_THIN_LINEAR_TIMEOUTS", thin);
    expect(deferred, IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", defer_s);
    char cc[16] = { 0 };
    socklen_t cl = sizeof cc;
    getsockopt(t, IPPROTO_TCP, TCP_CONGESTION, cc, &cl);
    if (strcmp(cc, "reno") != 0) fail("TCP_CONGESTION is \"%s\", want reno", cc);
    struct linger lg2 = { 0, 0 };
    socklen_t ll = sizeof lg2;
    getsockopt(t, SOL_SOCKET, SO_LINGER, &lg2, &ll);
    if (lg2.l_onoff != 1 || lg2.l_linger != linger_s) fail("SO_LINGER is %d/%d, want 1/%d", lg2.l_onoff, lg2.l_linger, linger_s);
    expect(t, SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", priority);
    expect(t, SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT", lowat);
    struct timeval tv2 = { 0, 0 };
    tl = sizeof tv2;
    getsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &tv2, &tl);
    if (tv2.tv_sec != tv_set.tv_sec || tv2.tv_usec != tv_set.tv_usec) fail("SO_RCVTIMEO is %ld.%06ld", (long)tv2.tv_sec, (long)tv2.tv_usec);
    expect(t, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", rcvbuf_set);
    expect(t, SOL_SOCKET, SO_BUF_LOCK, "SO_BUF_LOCK", 2);
    expect(t, SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST (never set)", 0);

    socklen_t fl = 0;
    if (getsockopt(u, SOL_SOCKET, SO_ATTACH_FILTER, NULL, &fl) != 0 || fl != 1) fail("the socket filter is lost (%u instructions)", fl);
    expect(u, IPPROTO_IP, IP_TTL, "IP_TTL", ttl);
    expect(u, IPPROTO_IP, IP_TOS, "IP_TOS", tos);

    struct sockaddr_in got = { 0 };
    len = sizeof got;
    getsockname(fb, (struct sockaddr *)&got, &len);
    if (got.sin_addr.s_addr != away.sin_addr.s_addr || got.sin_port != away.sin_port) fail("the free-bound address is lost");
    expect(fb, IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND (turned off after bind)", 0);

    expect(l1, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT of listener 1 (turned off)", 0);
    expect(l2, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT of listener 2", 1);
    struct sockaddr_in l2a = { 0 };
    len = sizeof l2a;
    getsockname(l2, (struct sockaddr *)&l2a, &len);
    if (l2a.sin_port != la.sin_port) fail("listener 2 is not on the shared port");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&la, sizeof la) != 0) fail("no listener on the shared port: %s", strerror(errno));

    if (v6only) expect(v6, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", 1);
    expect(un, SOL_SOCKET, SO_PASSCRED, "SO_PASSCRED", 1);
    expect(us, SOL_SOCKET, SO_TYPE, "type of the unconnected UNIX stream socket", SOCK_STREAM);
    expect(usp, SOL_SOCKET, SO_TYPE, "type of the unconnected UNIX seqpacket socket", SOCK_SEQPACKET);
    if (send(uw, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) fail("the UDP socket shut for writing sends again");
    char left[8] = { 0 };
    if (recv(dp[0], left, sizeof left, MSG_DONTWAIT) != 4 || memcmp(left, "left", 4) != 0) fail("the message from the closed datagram peer is lost");
    return finish();
}
