/* Connected UNIX sockets whose peers stay outside the checkpoint (a child
 * left out with -p): a stream pair, a seqpacket pair and a connection
 * accepted from a named listener, as a server holds its clients'. After
 * restart each must still be a descriptor of its number, ended by its
 * peer: epoll (registered before the checkpoint) says hung up, reads give
 * what was left unread and then end of file, writes fail with EPIPE, and
 * a new descriptor does not take any of the numbers. */
#include "fixture.h"
#include <fcntl.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>

enum { STREAM = 20, SEQPACKET = 21, ACCEPTED = 22, LISTENER = 23, EPOLL = 24 };

static void expect_read(int fd, const char *want, const char *what) {
    char buf[64] = { 0 };
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n != (ssize_t)strlen(want) || memcmp(buf, want, strlen(want)) != 0)
        fail("%s: read %zd bytes \"%s\" (%s), want \"%s\"", what, n, buf, n < 0 ? strerror(errno) : "", want);
}

static void expect_ended(int fd, int type, const char *what) {
    int got = 0;
    socklen_t len = sizeof got;
    if (fcntl(fd, F_GETFD) < 0) { fail("%s: fd %d is gone: %s", what, fd, strerror(errno)); return; }
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &got, &len) != 0 || got != type) fail("%s: socket type %d, want %d", what, got, type);
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    if (n != 0) fail("%s: read after the unread bytes gave %zd (%s), want end of file", what, n, n < 0 ? strerror(errno) : "data");
    if (send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != -1 || errno != EPIPE) fail("%s: write did not fail with EPIPE: %s", what, strerror(errno));
}

int main(void) {
    int stream[2], seq[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, stream) != 0 || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, seq) != 0) { fail("socketpair"); return finish(); }
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un name = { .sun_family = AF_UNIX };
    /* An abstract name of this run's own. */
    int length = snprintf(name.sun_path + 1, sizeof name.sun_path - 1, "swiftcr-outsidepeer-%d", getpid()) + 1;
    socklen_t namelen = offsetof(struct sockaddr_un, sun_path) + length;
    if (listener < 0 || bind(listener, (struct sockaddr *)&name, namelen) != 0 || listen(listener, 4) != 0) { fail("listen: %s", strerror(errno)); return finish(); }
    pid_t helper = fork();
    if (helper == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);  /* dies with the checkpointed original */
        close(stream[0]);
        close(seq[0]);
        int client = socket(AF_UNIX, SOCK_STREAM, 0);
        if (client < 0 || connect(client, (struct sockaddr *)&name, namelen) != 0) _exit(1);
        if (write(stream[1], "left unread", 11) != 11 || write(seq[1], "one", 3) != 3 || write(seq[1], "two", 3) != 3 ||
            write(client, "from a client", 13) != 13) _exit(1);
        for (;;) pause();
    }
    close(stream[1]);
    close(seq[1]);
    int accepted = accept(listener, NULL, NULL);
    if (accepted < 0) { fail("accept: %s", strerror(errno)); return finish(); }
    dup2(stream[0], STREAM);
    dup2(seq[0], SEQPACKET);
    dup2(accepted, ACCEPTED);
    dup2(listener, LISTENER);
    close(stream[0]);
    close(seq[0]);
    close(accepted);
    close(listener);
    int ep = epoll_create1(0);
    dup2(ep, EPOLL);
    close(ep);
    for (int fd = STREAM; fd <= ACCEPTED; fd++) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
        if (epoll_ctl(EPOLL, EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl %d: %s", fd, strerror(errno));
    }
    /* Everything the helper sends is queued before the checkpoint. */
    for (int tries = 0; tries < 200; tries++) {
        int queued = 0;
        struct epoll_event evs[4];
        if (epoll_wait(EPOLL, evs, 4, 10) == 3) queued = 1;
        if (queued) break;
    }
    ready();
    wait_for_term();

    struct epoll_event evs[8];
    int n = epoll_wait(EPOLL, evs, 8, 1000), hung = 0;
    for (int i = 0; i < n; i++)
        if ((evs[i].events & (EPOLLHUP | EPOLLRDHUP)) && evs[i].data.fd >= STREAM && evs[i].data.fd <= ACCEPTED) hung++;
    if (hung != 3) fail("epoll saw %d of 3 connections hung up (%d events)", hung, n);
    expect_read(STREAM, "left unread", "stream");
    expect_ended(STREAM, SOCK_STREAM, "stream");
    expect_read(SEQPACKET, "one", "seqpacket");
    expect_read(SEQPACKET, "two", "seqpacket");
    expect_ended(SEQPACKET, SOCK_SEQPACKET, "seqpacket");
    expect_read(ACCEPTED, "from a client", "accepted");
    expect_ended(ACCEPTED, SOCK_STREAM, "accepted");
    int fresh = open("/dev/null", O_RDONLY);
    if (fresh >= STREAM && fresh <= EPOLL) fail("a new descriptor took number %d", fresh);
    return finish();
}
