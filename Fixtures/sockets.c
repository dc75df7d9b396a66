/* UNIX socketpairs (stream, datagram, seqpacket) with data queued both
 * ways (the datagram pair's ends bound to names), a shut-down end, a connection made through a listening socket,
 * listening UNIX sockets (path and abstract) and a listening TCP socket:
 * after restart the queued bytes and message boundaries are there, the
 * pairs still talk, and the listeners accept new connections. Dups of a
 * stream end and of the TCP listener are the same open files as before.
 * Usage: sockets DIR */
#include "fixture.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#define BIG 50000

static void expect_read(int fd, const void *want, size_t n, const char *what) {
    char buf[BIG];
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got != n || memcmp(buf, want, n) != 0) fail("%s: read %zu of %zu queued bytes (or they differ)", what, got, n);
}

static void expect_message(int fd, const char *want, const char *what) {
    char buf[256];
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r != (ssize_t)strlen(want) || memcmp(buf, want, (size_t)r) != 0)
        fail("%s: message of %zd bytes, want \"%s\"", what, r, want);
}

static void expect_talk(int a, int b, const char *what) {
    if (send(a, "new", 3, MSG_NOSIGNAL) != 3) { fail("%s: send after restart: %s", what, strerror(errno)); return; }
    char buf[8];
    struct timeval tv = { 2, 0 };
    setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int fl = fcntl(b, F_GETFL);
    fcntl(b, F_SETFL, fl & ~O_NONBLOCK);
    if (recv(b, buf, sizeof buf, 0) != 3 || memcmp(buf, "new", 3) != 0) fail("%s: the pair no longer talks", what);
    fcntl(b, F_SETFL, fl);
}

static int unix_listener(const struct sockaddr_un *addr, socklen_t len) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(s, (const struct sockaddr *)addr, len) != 0 || listen(s, 5) != 0) { fail("unix listener: %s", strerror(errno)); exit(1); }
    return s;
}

static void expect_accepts(int listener, const struct sockaddr *addr, socklen_t len, const char *what) {
    int c = socket(addr->sa_family, SOCK_STREAM, 0);
    if (connect(c, addr, len) != 0) { fail("%s: connect after restart: %s", what, strerror(errno)); close(c); return; }
    int s = accept(listener, NULL, NULL);
    if (s < 0) fail("%s: accept after restart: %s", what, strerror(errno));
    else { expect_talk(c, s, what); close(s); }
    close(c);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    static char big[BIG];
    for (int i = 0; i < BIG; i++) big[i] = (char)(i * 7 + i / 251);

    int st[2], dg[2], sq[2], gone[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, st);
    /* A connection whose peer closed, leaving its last words unread. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, gone);
    send(gone[0], "last words", 10, 0);
    close(gone[0]);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, dg);
    /* Each end of the datagram pair also bound to a name of its own (zdtm scm06). */
    struct sockaddr_un dg_name[2];
    socklen_t dg_len[2];
    for (int i = 0; i < 2; i++) {
        dg_name[i] = (struct sockaddr_un){ .sun_family = AF_UNIX };
        int n = snprintf(dg_name[i].sun_path + 1, sizeof dg_name[i].sun_path - 1, "swiftcr-dgpair-%d-%d", getpid(), i);
        dg_len[i] = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
        if (bind(dg[i], (struct sockaddr *)&dg_name[i], dg_len[i]) != 0) fail("bind the datagram pair: %s", strerror(errno));
    }
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq);
    if (send(st[0], big, BIG, 0) != BIG) fail("stream queue");
    send(st[1], "back", 4, 0);
    send(dg[0], "one", 3, 0); send(dg[0], "two!", 4, 0); send(dg[0], "three", 5, 0);
    send(dg[1], "reply", 5, 0);
    send(sq[0], "first", 5, 0); send(sq[0], "second", 6, 0);
    shutdown(sq[0], SHUT_WR);
    fcntl(st[1], F_SETFL, O_NONBLOCK);

    struct sockaddr_un path = { .sun_family = AF_UNIX };
    snprintf(path.sun_path, sizeof path.sun_path, "%s/listen.sock", argv[1]);
    unlink(path.sun_path);
    int lp = unix_listener(&path, sizeof path);
    struct sockaddr_un abstract = { .sun_family = AF_UNIX };
    int an = snprintf(abstract.sun_path + 1, sizeof abstract.sun_path - 1, "swiftcr-sockets-%d", getpid());
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + an);
    int la = unix_listener(&abstract, alen);
    int client = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(client, (struct sockaddr *)&path, sizeof path) != 0) fail("connect: %s", strerror(errno));
    int served = accept(lp, NULL, NULL);
    send(client, "ping", 4, 0);
    send(served, "pong", 4, 0);

    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t llen = sizeof local;
    if (bind(tcp, (struct sockaddr *)&local, sizeof local) != 0 || listen(tcp, 16) != 0) fail("tcp listen: %s", strerror(errno));
    getsockname(tcp, (struct sockaddr *)&local, &llen);

    int st_dup = dup(st[0]), tcp_dup = dup(tcp);
    if (st_dup < 0 || tcp_dup < 0) fail("dup: %s", strerror(errno));

    ready();
    wait_for_term();

    expect_read(gone[1], "last words", 10, "connection whose peer closed");
    if (recv(gone[1], &(char){0}, 1, MSG_DONTWAIT) != 0) fail("connection whose peer closed: no EOF after its data");
    if (send(gone[1], "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) fail("connection whose peer closed: send does not fail with EPIPE");
    expect_read(st[1], big, BIG, "stream pair, 50000 bytes");
    expect_read(st[0], "back", 4, "stream pair, other way");
    if (!(fcntl(st[1], F_GETFL) & O_NONBLOCK)) fail("stream end lost O_NONBLOCK");
    expect_message(dg[1], "one", "datagram 1");
    expect_message(dg[1], "two!", "datagram 2");
    expect_message(dg[1], "three", "datagram 3");
    expect_message(dg[0], "reply", "datagram other way");
    expect_message(sq[1], "first", "seqpacket 1");
    expect_message(sq[1], "second", "seqpacket 2");
    char eof;
    if (recv(sq[1], &eof, 1, MSG_DONTWAIT) != 0) fail("seqpacket: the shut-down end does not read as EOF");
    if (send(sq[0], "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) fail("seqpacket: the shut-down end can still send");
    expect_read(served, "ping", 4, "accepted connection");
    expect_read(client, "pong", 4, "connecting side");
    int types[][2] = { { st[0], SOCK_STREAM }, { dg[0], SOCK_DGRAM }, { sq[1], SOCK_SEQPACKET } };
    for (int i = 0; i < 3; i++) {
        int t = 0; socklen_t tl = sizeof t;
        getsockopt(types[i][0], SOL_SOCKET, SO_TYPE, &t, &tl);
        if (t != types[i][1]) fail("socket type %d, want %d", t, types[i][1]);
    }
    expect_talk(st[0], st[1], "stream pair");
    expect_talk(dg[1], dg[0], "datagram pair");
    for (int i = 0; i < 2; i++) {
        struct sockaddr_un a;
        socklen_t l = sizeof a;
        if (getsockname(dg[i], (struct sockaddr *)&a, &l) != 0 || l != dg_len[i] || memcmp(&a, &dg_name[i], l) != 0)
            fail("datagram pair end %d lost its name", i);
    }
    expect_talk(client, served, "accepted connection");
    expect_accepts(lp, (struct sockaddr *)&path, sizeof path, "listening UNIX socket (path)");
    expect_accepts(la, (struct sockaddr *)&abstract, alen, "listening UNIX socket (abstract)");
    expect_accepts(tcp, (struct sockaddr *)&local, sizeof local, "listening TCP socket");
    expect_talk(st_dup, st[1], "a dup of a stream end");
    expect_accepts(tcp_dup, (struct sockaddr *)&local, sizeof local, "a dup of the TCP listener");
    /* One open file description: status flags set through the dup show on the original. */
    fcntl(st_dup, F_SETFL, fcntl(st_dup, F_GETFL) | O_NONBLOCK);
    if (!(fcntl(st[0], F_GETFL) & O_NONBLOCK)) fail("the dup of a stream end is no longer the same open file");
    return finish();
}
