/* Two processes flood one TCP connection over loopback both ways, nonblocking,
 * with full buffers and windows that open and close all the time, so the
 * checkpoint (--tree, root: TCP_REPAIR) finds segments and ACKs in flight
 * between two ends it reads one after the other: first a flood with reads,
 * then both stop reading and fill each other's queues with small writes (the
 * windows close; a frozen receiver still answers probes and collapses its
 * queue). After restart each side shuts down and drains to end of file: every byte must
 * arrive once, in order (a counted pattern per direction), within 10 s of
 * silence (a connection whose ends disagree on what was sent hangs).
 * Usage: tcpflood SEED [6] (the seed sets chunk sizes and pauses; "6" uses IPv6). */
#include "fixture.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

static unsigned rng;
static unsigned next_random(void) { rng = rng * 1103515245u + 12345u; return rng >> 8; }

static unsigned char pattern(long at, int direction) { return (unsigned char)((at * 13 + direction * 101 + at / 251) % 251); }

struct stream { long sent, received; int bad; };

/* One nonblocking step: write what the socket takes (up to a seeded chunk),
 * read up to a seeded chunk, check it. */
static int step(int fd, struct stream *s, int out_dir, int writing, int max_read) {
    unsigned char buf[65536];
    if (writing) {
        int n = 1 + (int)(next_random() % sizeof buf);
        for (int i = 0; i < n; i++) buf[i] = pattern(s->sent + i, out_dir);
        ssize_t w = send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) s->sent += w;
        else if (w < 0 && errno != EAGAIN) return -1;
    }
    ssize_t r = recv(fd, buf, (size_t)max_read, MSG_DONTWAIT);
    if (r == 0) return 0;
    if (r < 0) return errno == EAGAIN ? 1 : -1;
    for (ssize_t i = 0; i < r; i++)
        if (buf[i] != pattern(s->received + i, !out_dir) && !s->bad++) fail("byte %ld of direction %d is wrong", s->received + i, !out_dir);
    s->received += r;
    return 1;
}

/* Both ends stop reading and write small pieces until the socket takes no
 * more: the peer's receive queue fills with small segments, its window closes,
 * and while frozen the kernel probes and collapses the queues. */
static void fill(int fd, struct stream *s, int out_dir, int stop) {
    unsigned char buf[64];
    for (int quiet = 0; quiet < 20;) {
        struct pollfd p = { stop, POLLIN, 0 };
        if (stop >= 0 && poll(&p, 1, 0) == 1) return;  /* the parent is past its fill: drain */
        int n = 1 + (int)(next_random() % sizeof buf);
        for (int i = 0; i < n; i++) buf[i] = pattern(s->sent + i, out_dir);
        ssize_t w = send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) { s->sent += w; quiet = 0; continue; }
        quiet++;
        usleep(2000);
    }
}

/* Reads to end of file after our own shutdown; -1 if 10 s pass in silence. */
static int drain(int fd, struct stream *s, int out_dir) {
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 10000) != 1) return -1;
        int r = step(fd, s, out_dir, 0, 65536);
        if (r <= 0) return r;
    }
}

/* Floods until the parent's byte on `go`, fills, waits for the second byte
 * (after restart), then shuts down, drains and reports. */
static int run_child(int fd, int go, int report) {
    struct stream s = { 0, 0, 0 };
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, NULL);
    char c;
    for (;;) {
        struct pollfd p[2] = { { fd, POLLIN | POLLOUT, 0 }, { go, POLLIN, 0 } };
        poll(p, 2, 100);
        if (p[1].revents) break;
        if (step(fd, &s, 1, 1, 1 + (int)(next_random() % 8192)) <= 0) { fail("child: connection ended: %s", strerror(errno)); return 1; }
        if (next_random() % 4 == 0) usleep(next_random() % 1500);
    }
    if (read(go, &c, 1) != 1) return 1;
    fill(fd, &s, 1, go);
    if (read(go, &c, 1) != 1) return 1;
    shutdown(fd, SHUT_WR);
    if (drain(fd, &s, 1) != 0) fail("child: no end of file within 10 s (received %ld, sent %ld)", s.received, s.sent);
    long counts[3] = { s.sent, s.received, s.bad };
    return write(report, counts, sizeof counts) == (ssize_t)sizeof counts ? 0 : 1;
}

int main(int argc, char **argv) {
    rng = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    int six = argc > 2 && strcmp(argv[2], "6") == 0;
    int family = six ? AF_INET6 : AF_INET;
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    socklen_t len = six ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (six) { ((struct sockaddr_in6 *)&addr)->sin6_family = AF_INET6; ((struct sockaddr_in6 *)&addr)->sin6_addr = in6addr_loopback; }
    else { ((struct sockaddr_in *)&addr)->sin_family = AF_INET; ((struct sockaddr_in *)&addr)->sin_addr.s_addr = htonl(INADDR_LOOPBACK); }
    int lst = socket(family, SOCK_STREAM, 0);
    if (bind(lst, (struct sockaddr *)&addr, len) != 0 || listen(lst, 1) != 0) { fail("listen: %s", strerror(errno)); return finish(); }
    getsockname(lst, (struct sockaddr *)&addr, &len);
    int report[2], go[2];
    if (pipe(report) != 0 || pipe(go) != 0) { fail("pipe"); return finish(); }
    handle_term();
    pid_t child = fork();
    if (child == 0) {
        close(lst);
        close(report[0]);
        close(go[1]);
        rng ^= 0x5bd1e995u;
        int c = socket(family, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&addr, len) != 0) { fail("connect: %s", strerror(errno)); _exit(1); }
        int big = 8 << 20;
        setsockopt(c, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        _exit(run_child(c, go[0], report[1]));
    }
    close(report[1]);
    close(go[0]);
    int fd = accept(lst, NULL, NULL);
    close(lst);
    if (fd < 0) { fail("accept: %s", strerror(errno)); return finish(); }
    /* Large buffers on our end (the seed picks how large), small reads on the child's. */
    int big = (4 + (int)(next_random() % 5)) << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct stream s = { 0, 0, 0 };
    while (s.sent < (1 << 20) || s.received < (1 << 20)) {
        struct pollfd p = { fd, POLLIN | POLLOUT, 0 };
        poll(&p, 1, 100);
        if (step(fd, &s, 0, 1, 1 + (int)(next_random() % 16384)) <= 0) { fail("parent: connection ended: %s", strerror(errno)); return finish(); }
        if (next_random() % 4 == 0) usleep(next_random() % 1500);
    }
    if (write(go[1], "f", 1) != 1) fail("go");
    fill(fd, &s, 0, -1);
    /* The segment size: a restored end computes it again from the saved MSS
     * and window, never smaller than the original's (the default clamp's 524
     * or 1208 bytes would flood the peer with tiny segments). */
    int mss_before = 0, mss_after = 0;
    socklen_t ml = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss_before, &ml);
    ready();
    wait_for_term();
    getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss_after, &ml);
    if (mss_after < mss_before) fail("segment size (TCP_MAXSEG) shrank from %d to %d", mss_before, mss_after);
    if (write(go[1], "d", 1) != 1) fail("go");
    shutdown(fd, SHUT_WR);
    if (drain(fd, &s, 0) != 0) fail("parent: no end of file within 10 s (received %ld, sent %ld)", s.received, s.sent);
    long counts[3] = { -1, -1, -1 };
    struct pollfd p = { report[0], POLLIN, 0 };
    if (poll(&p, 1, 10000) != 1 || read(report[0], counts, sizeof counts) != (ssize_t)sizeof counts) fail("child: no report within 10 s");
    else {
        if (counts[1] != s.sent) fail("child received %ld of the %ld bytes sent to it", counts[1], s.sent);
        if (counts[0] != s.received) fail("child sent %ld bytes, %ld arrived", counts[0], s.received);
        if (counts[2]) fail("child saw %ld wrong bytes", counts[2]);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return finish();
}
