/* An established TCP connection over loopback (both ends in this process),
 * with unread bytes both ways. With "repaired" (root, TCP_REPAIR) it must
 * come back the same connection: same addresses, the unread bytes, and new
 * bytes flow both ways. With "kept" (no CAP_NET_ADMIN, or cr_restart
 * --tcp-close) both descriptors stay, as TCP connections that have ended
 * (state CLOSE: end of file, EPIPE, hung up; as root with both addresses),
 * and a new descriptor takes neither number.
 * A repaired connection also keeps its segment size (TCP_MAXSEG) and
 * SO_REUSEADDR (set on the server end only), also across a checkpoint that
 * lets it run on (repair mode clears the flag when it is left).
 * Usage: tcp repaired|kept */
#include "fixture.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

static int same_name(int fd, const struct sockaddr_in *want, int peer) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    if ((peer ? getpeername(fd, (struct sockaddr *)&a, &l) : getsockname(fd, (struct sockaddr *)&a, &l)) != 0) return 0;
    return a.sin_port == want->sin_port && a.sin_addr.s_addr == want->sin_addr.s_addr;
}

static int read_all(int fd, char *buf, int n) {
    int got = 0;
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0) break;
        got += (int)r;
    }
    return got;
}

int main(int argc, char **argv) {
    int kept = argc > 1 && strcmp(argv[1], "kept") == 0;
    if (argc < 2 || (!kept && strcmp(argv[1], "repaired") != 0)) { fail("usage: tcp repaired|kept"); return finish(); }
    int lst = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    if (bind(lst, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lst, 4) != 0) { fail("listen"); return finish(); }
    getsockname(lst, (struct sockaddr *)&addr, &len);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&addr, sizeof addr) != 0) { fail("connect"); return finish(); }
    int s = accept(lst, NULL, NULL);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in cname;
    len = sizeof cname;
    getsockname(c, (struct sockaddr *)&cname, &len);
    static char big[3000];
    for (int i = 0; i < 3000; i++) big[i] = (char)(i * 11 + 1);
    if (send(c, big, 3000, 0) != 3000 || send(s, "hello client", 12, 0) != 12) fail("send");
    usleep(50000);  /* let loopback deliver: the bytes wait in the receive queues */
    /* The segment size each end sends with: a restored end must not fall back to the default 524 bytes. */
    int mss_before[2] = { 0, 0 }, mss_after[2] = { 0, 0 };
    socklen_t ml = sizeof(int);
    getsockopt(c, IPPROTO_TCP, TCP_MAXSEG, &mss_before[0], &ml);
    getsockopt(s, IPPROTO_TCP, TCP_MAXSEG, &mss_before[1], &ml);

    ready();
    wait_for_term();

    if (kept) {
        int fds[2] = { c, s };
        for (int i = 0; i < 2; i++) {
            int type = 0; socklen_t tl = sizeof type;
            if (getsockopt(fds[i], SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM) { fail("fd %d is not a TCP socket any more", fds[i]); continue; }
            errno = 0;
            if (send(fds[i], "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) fail("fd %d: send did not fail with EPIPE (%s): the connection should be gone", fds[i], strerror(errno));
            char b;
            if (recv(fds[i], &b, 1, MSG_DONTWAIT) != 0) fail("fd %d: a read gives %s, not end of file", fds[i], strerror(errno));
            unsigned char info[8] = { 0 };
            socklen_t il = sizeof info;
            if (getsockopt(fds[i], IPPROTO_TCP, TCP_INFO, info, &il) != 0 || info[0] != 7) fail("fd %d: state %d, not CLOSE", fds[i], info[0]);
            struct pollfd p = { fds[i], POLLIN | POLLOUT, 0 };
            if (poll(&p, 1, 0) != 1 || !(p.revents & POLLHUP) || (p.revents & POLLERR)) fail("fd %d: poll says %#x, not hung up without error", fds[i], p.revents);
        }
        /* As root the ended connection keeps both addresses (SO_PEERNAME still answers). */
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        if (geteuid() == 0 && (!same_name(c, &cname, 0) || getsockopt(c, SOL_SOCKET, SO_PEERNAME, &peer, &pl) != 0 ||
                               peer.sin_port != addr.sin_port || !same_name(s, &addr, 0)))
            fail("the ended connection lost its addresses");
        int fresh = open("/dev/null", O_RDONLY);
        if (fresh == c || fresh == s) fail("a new descriptor took number %d of the ended connection", fresh);
        return finish();
    }
    if (!same_name(c, &cname, 0) || !same_name(c, &addr, 1) || !same_name(s, &addr, 0) || !same_name(s, &cname, 1))
        fail("the connection's addresses changed");
    static char got[3000];
    if (read_all(s, got, 3000) != 3000 || memcmp(got, big, 3000) != 0) fail("the 3000 bytes queued to the server end are lost");
    char hello[16] = { 0 };
    if (read_all(c, hello, 12) != 12 || strcmp(hello, "hello client") != 0) fail("the bytes queued to the client end are lost (\"%s\")", hello);
    if (send(c, "ping", 4, MSG_NOSIGNAL) != 4 || read_all(s, hello, 4) != 4 || memcmp(hello, "ping", 4) != 0) fail("client -> server after restart");
    if (send(s, "pong", 4, MSG_NOSIGNAL) != 4 || read_all(c, hello, 4) != 4 || memcmp(hello, "pong", 4) != 0) fail("server -> client after restart");
    getsockopt(c, IPPROTO_TCP, TCP_MAXSEG, &mss_after[0], &ml);
    getsockopt(s, IPPROTO_TCP, TCP_MAXSEG, &mss_after[1], &ml);
    if (mss_after[0] != mss_before[0] || mss_after[1] != mss_before[1])
        fail("segment size (TCP_MAXSEG) changed: client %d -> %d, server %d -> %d", mss_before[0], mss_after[0], mss_before[1], mss_after[1]);
    int nd = 0; socklen_t nl = sizeof nd;
    getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &nd, &nl);
    if (!nd) fail("TCP_NODELAY lost");
    int reuse[2] = { -1, -1 }; socklen_t rl = sizeof(int);
    getsockopt(c, SOL_SOCKET, SO_REUSEADDR, &reuse[0], &rl);
    getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse[1], &rl);
    if (reuse[0] != 0 || reuse[1] == 0) fail("SO_REUSEADDR is %d on the client end (was 0), %d on the server end (was 1)", reuse[0], reuse[1]);
    return finish();
}
