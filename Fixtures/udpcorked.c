/* A UDP socket holding back a datagram (UDP_CORK, or MSG_MORE with "more"):
 * the kernel keeps it in the send queue until the program sends the rest,
 * and nothing can read it out. A checkpoint must refuse the process (and
 * --kill must not fire); afterwards the program uncorks and its datagram
 * arrives whole. Usage: udpcorked [more] */
#include "fixture.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    int more = argc > 1 && strcmp(argv[1], "more") == 0;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int one = 1;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &len) != 0 ||
        connect(s, (struct sockaddr *)&a, sizeof a) != 0) { fail("setup: %s", strerror(errno)); return finish(); }
    if (!more && setsockopt(s, IPPROTO_UDP, UDP_CORK, &one, sizeof one) != 0) fail("UDP_CORK: %s", strerror(errno));
    if (send(s, "held ", 5, more ? MSG_MORE : 0) != 5) fail("send: %s", strerror(errno));
    ready();
    wait_for_term();
    int zero = 0;
    if (more) { if (send(s, "back", 4, 0) != 4) fail("send the rest: %s", strerror(errno)); }
    else if (setsockopt(s, IPPROTO_UDP, UDP_CORK, &zero, sizeof zero) != 0) fail("uncork: %s", strerror(errno));
    char buf[32] = { 0 };
    struct pollfd p = { s, POLLIN, 0 };
    const char *want = more ? "held back" : "held ";
    if (poll(&p, 1, 2000) != 1 || recv(s, buf, sizeof buf, 0) != (ssize_t)strlen(want) || strcmp(buf, want) != 0)
        fail("the held-back datagram did not arrive whole: '%s'", buf);
    return finish();
}
