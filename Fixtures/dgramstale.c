/* A datagram waiting at a bound server, sent with a descriptor in flight by
 * a socket bound to a path, closed since, its socket file left there: the
 * restart cannot bind that name again (a file is at that path), so the
 * message is sent again from an unnamed socket, and cr_restart must say so
 * although the queue is refilled late, once the descriptor in flight exists
 * (that warning was lost before 2026-12-07). The server still gets the
 * message and the pipe end with it, the pipe's byte inside.
 * Usage: dgramstale DIR. Prints PASS. */
#include "fixture.h"
#include <sys/socket.h>
#include <sys/un.h>

static struct sockaddr_un path_in(const char *dir, const char *name) {
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, name);
    return a;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct sockaddr_un srv = path_in(argv[1], "stale-srv"), old = path_in(argv[1], "stale-sender");
    unlink(srv.sun_path);
    unlink(old.sun_path);
    int server = socket(AF_UNIX, SOCK_DGRAM, 0), sender = socket(AF_UNIX, SOCK_DGRAM, 0), p[2];
    if (server < 0 || sender < 0 || pipe(p) != 0) { fail("socket/pipe: %s", strerror(errno)); return finish(); }
    if (bind(server, (struct sockaddr *)&srv, sizeof srv) != 0 || bind(sender, (struct sockaddr *)&old, sizeof old) != 0) {
        fail("bind: %s", strerror(errno));
        return finish();
    }
    if (write(p[1], "x", 1) != 1) fail("write to the pipe");
    char text[] = "hello";
    struct iovec iov = { text, sizeof text };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr m = { .msg_name = &srv, .msg_namelen = sizeof srv, .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = control.buf, .msg_controllen = sizeof control.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[0], sizeof(int));
    if (sendmsg(sender, &m, 0) != (ssize_t)sizeof text) fail("sendmsg: %s", strerror(errno));
    close(sender);  /* its file stays at stale-sender */
    close(p[0]);    /* the read end lives on in flight only */
    ready();
    wait_for_term();
    char got[16] = "";
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } back;
    struct iovec in = { got, sizeof got };
    struct msghdr r = { .msg_iov = &in, .msg_iovlen = 1, .msg_control = back.buf, .msg_controllen = sizeof back.buf };
    ssize_t n = recvmsg(server, &r, MSG_DONTWAIT);
    if (n != (ssize_t)sizeof text || strcmp(got, "hello") != 0) { fail("the queued message: %zd bytes (%s)", n, strerror(errno)); return finish(); }
    struct cmsghdr *h = CMSG_FIRSTHDR(&r);
    int fd = -1;
    if (h && h->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(h), sizeof fd);
    char byte = 0;
    if (fd < 0 || read(fd, &byte, 1) != 1 || byte != 'x') fail("the pipe end in flight: fd %d, byte %c", fd, byte ? byte : '?');
    return finish();
}
