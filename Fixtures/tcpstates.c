/* TCP connections in every state a program can hold them, over loopback,
 * all ends in this process (root: TCP_REPAIR). After restart:
 * - the listener (no SO_REUSEADDR; the killed original's connections held
 *   its port) accepts a new connection;
 * - a half-closed connection: the end whose peer shut down reads the queued
 *   bytes, then end of file (the FIN came back), and can still answer;
 * - a connection shut down with its send queue full (FIN_WAIT1, FIN behind
 *   megabytes the peer had not read): every byte arrives, then end of file;
 * - a connection closed both ways reads end of file on both ends, which are
 *   ended (state CLOSE) and still tell both addresses, hang up and refuse writes;
 * - a reset connection (the peer closed with SO_LINGER 0) with bytes it
 *   had received unread: they are read, then nothing more comes (zdtm
 *   socket-tcp-reseted), and writes fail;
 * - a LAST_ACK end whose peer's segments an nftables rule drops (zdtm
 *   socket-tcp-closed-last-ack): the peer's FIN the restart sends again is
 *   dropped too, and its reads must still end (the restart shuts them down).
 * Usage: tcpstates SEED (the seed sets the size of the full queue). */
#include "fixture.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

static struct sockaddr_in listen_addr;

static int connect_to(int lst, int *server) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0) { fail("connect: %s", strerror(errno)); return -1; }
    *server = accept(lst, NULL, NULL);
    return c;
}

/* Reads until end of file or 5 s of silence; returns bytes read, -1 on error. */
static long drain(int fd, unsigned char *check_from, long *position) {
    long total = 0;
    unsigned char buf[65536];
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) != 1) return -2;  /* no FIN: it hangs */
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) return -1;
        if (n == 0) return total;
        for (ssize_t i = 0; check_from && i < n; i++)
            if (buf[i] != (unsigned char)((*position + i) * 7 + 3)) { fail("byte %ld of the full queue is wrong", *position + i); return -1; }
        if (position) *position += n;
        total += n;
    }
}

static int tcp_state(int fd) {
    unsigned char info[8] = { 0 };
    socklen_t length = sizeof info;
    return getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &length) == 0 ? info[0] : -1;
}

/* An ended connection: state CLOSE, its own and its peer's address
 * (SO_PEERNAME; getpeername says ENOTCONN), hung up, writes fail with EPIPE. */
static void expect_ended(int fd, const struct sockaddr_in *self, const struct sockaddr_in *peer, const char *what) {
    struct sockaddr_in a;
    socklen_t length = sizeof a;
    if (tcp_state(fd) != 7) fail("%s: state %d, not CLOSE", what, tcp_state(fd));
    if (getsockname(fd, (struct sockaddr *)&a, &length) != 0 || a.sin_port != self->sin_port || a.sin_addr.s_addr != self->sin_addr.s_addr)
        fail("%s: its own address changed (port %d, was %d)", what, ntohs(a.sin_port), ntohs(self->sin_port));
    length = sizeof a;
    memset(&a, 0, sizeof a);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERNAME, &a, &length) != 0 || a.sin_port != peer->sin_port || a.sin_addr.s_addr != peer->sin_addr.s_addr)
        fail("%s: SO_PEERNAME lost the peer (%s)", what, strerror(errno));
    struct pollfd p = { fd, POLLIN | POLLOUT, 0 };
    if (poll(&p, 1, 0) != 1 || !(p.revents & POLLHUP) || (p.revents & POLLERR)) fail("%s: poll says %#x, not hung up without error", what, p.revents);
    errno = 0;
    if (send(fd, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) fail("%s: send did not fail with EPIPE (%s)", what, strerror(errno));
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)atoi(argv[1]) : 1;
    srand(seed);
    signal(SIGPIPE, SIG_IGN);
    int lst = socket(AF_INET, SOCK_STREAM, 0);
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof listen_addr;
    if (bind(lst, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0 || listen(lst, 8) != 0) { fail("listen"); return finish(); }
    getsockname(lst, (struct sockaddr *)&listen_addr, &len);

    /* Half closed: a1 sent "abc" and shut down (FIN_WAIT2); a2 has not read (CLOSE_WAIT). */
    int a2, a1 = connect_to(lst, &a2);
    if (send(a1, "abc", 3, 0) != 3 || shutdown(a1, SHUT_WR) != 0) fail("half close");

    /* Full queue, then shutdown: b1's FIN waits behind bytes b2 never read. */
    int b2, b1 = connect_to(lst, &b2);
    fcntl(b1, F_SETFL, O_NONBLOCK);
    long want = 1 << 20 | (rand() % (1 << 20)), sent = 0;
    unsigned char chunk[4096];
    while (sent < want) {
        for (int i = 0; i < (int)sizeof chunk; i++) chunk[i] = (unsigned char)((sent + i) * 7 + 3);
        ssize_t n = send(b1, chunk, sizeof chunk, 0);
        if (n <= 0) break;  /* full */
        sent += n;
    }
    if (shutdown(b1, SHUT_WR) != 0) fail("shutdown of the full connection");

    /* Closed both ways: both ends read end of file. */
    int c2, c1 = connect_to(lst, &c2);
    shutdown(c1, SHUT_WR);
    shutdown(c2, SHUT_WR);
    usleep(100000);  /* the FINs and ACKs cross loopback */
    /* Ended (state CLOSE), they still know both ends. */
    struct sockaddr_in c1_at, c2_at;
    socklen_t c_len = sizeof c1_at;
    getsockname(c1, (struct sockaddr *)&c1_at, &c_len);
    c_len = sizeof c2_at;
    getsockname(c2, (struct sockaddr *)&c2_at, &c_len);
    if (tcp_state(c1) != 7 || tcp_state(c2) != 7) fail("setup: the connection closed both ways is in states %d and %d, not CLOSE", tcp_state(c1), tcp_state(c2));

    /* Reset with unread bytes: the peer sent them, then closed with SO_LINGER 0 (an RST). */
    int r2, r1 = connect_to(lst, &r2);
    char unread[64];
    int unread_length = snprintf(unread, sizeof unread, "unread before the reset %u", seed);
    struct linger hard = { .l_onoff = 1, .l_linger = 0 };
    if (r1 < 0 || r2 < 0 || send(r1, unread, unread_length, 0) != unread_length) fail("setup: the reset connection");
    usleep(50000);
    setsockopt(r1, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close(r1);
    usleep(50000);
    if (tcp_state(r2) != 7) fail("setup: the reset end is in state %d, not CLOSE", tcp_state(r2));

    /* LAST_ACK behind a rule dropping what comes to its port (its own listener's). */
    struct sockaddr_in second = listen_addr;
    second.sin_port = 0;
    int lst2 = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t second_len = sizeof second;
    if (bind(lst2, (struct sockaddr *)&second, sizeof second) != 0 || listen(lst2, 1) != 0) fail("second listener");
    getsockname(lst2, (struct sockaddr *)&second, &second_len);
    char table[64], rule[512];
    snprintf(table, sizeof table, "swiftcr-tcpstates-%d", getpid());
    int e2 = -1, e1 = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(e1, (struct sockaddr *)&second, sizeof second) != 0 || (e2 = accept(lst2, NULL, NULL)) < 0) fail("last-ack connection");
    close(lst2);
    shutdown(e1, SHUT_WR);
    usleep(50000);
    snprintf(rule, sizeof rule, "nft add table inet %s && nft add chain inet %s input '{ type filter hook input priority 0; }' && "
             "nft add rule inet %s input tcp dport %d drop", table, table, table, ntohs(second.sin_port));
    if (system(rule) != 0) fail("nft: the rule dropping port %d", ntohs(second.sin_port));
    shutdown(e2, SHUT_WR);
    usleep(50000);
    if (tcp_state(e2) != 9) fail("setup: the end behind the rule is in state %d, not LAST_ACK", tcp_state(e2));

    ready();
    wait_for_term();

    /* With the rule still there: nothing of the peer's comes through. */
    struct pollfd q = { e2, POLLIN, 0 };
    char one[4];
    errno = 0;
    if (poll(&q, 1, 300) != 1 || read(e2, one, sizeof one) != 0) fail("last-ack behind a rule: no end of file (%s)", strerror(errno));
    errno = 0;
    if (send(e2, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) fail("last-ack behind a rule: send did not fail with EPIPE (%s)", strerror(errno));
    snprintf(rule, sizeof rule, "nft delete table inet %s", table);
    if (system(rule) != 0) fail("nft: removing the rule");

    char buf[16] = { 0 };
    struct pollfd p = { a2, POLLIN, 0 };
    if (poll(&p, 1, 5000) != 1 || read(a2, buf, sizeof buf) != 3 || memcmp(buf, "abc", 3) != 0) fail("half-closed: the queued bytes are lost");
    /* At once: the FIN was acknowledged before the checkpoint and its
     * sender will not send it again before its retransmission timer (1 s). */
    else if (poll(&p, 1, 300) != 1 || read(a2, buf, sizeof buf) != 0) fail("half-closed: no end of file after the bytes (the peer's FIN is lost)");
    if (send(a2, "reply", 5, MSG_NOSIGNAL) != 5) fail("half-closed: the open side cannot send");
    p.fd = a1;
    if (poll(&p, 1, 5000) != 1 || read(a1, buf, sizeof buf) != 5 || memcmp(buf, "reply", 5) != 0) fail("half-closed: the reply did not arrive");
    if (send(a1, "x", 1, MSG_NOSIGNAL) != -1) fail("half-closed: the shut-down side can send again");

    long position = 0;
    long got = drain(b2, chunk, &position);
    if (got == -2) fail("full queue: no end of file after %ld of %ld bytes", position, sent);
    else if (got != sent) fail("full queue: %ld of %ld bytes arrived", got, sent);

    if (drain(c1, NULL, NULL) != 0 || drain(c2, NULL, NULL) != 0) fail("closed both ways: no end of file");
    expect_ended(c1, &c1_at, &c2_at, "closed both ways, first end");
    expect_ended(c2, &c2_at, &c1_at, "closed both ways, second end");

    /* The reset end: its unread bytes, then no more, and no writing. */
    char got_unread[64] = { 0 };
    ssize_t n = recv(r2, got_unread, sizeof got_unread, MSG_DONTWAIT);
    if (n != unread_length || memcmp(got_unread, unread, unread_length)) fail("reset: read %zd bytes, not the %d unread ones (%s)", n, unread_length, n < 0 ? strerror(errno) : "");
    else if (recv(r2, got_unread, sizeof got_unread, MSG_DONTWAIT) > 0) fail("reset: more bytes after the unread ones");
    if (send(r2, "x", 1, MSG_NOSIGNAL) != -1) fail("reset: the reset end can send");

    int d2, d1 = connect_to(lst, &d2);
    if (d1 < 0 || d2 < 0 || send(d1, "new", 3, 0) != 3 || read(d2, buf, sizeof buf) != 3) fail("the listener does not accept after restart");
    return finish();
}
