/* Sockets in a network namespace of the process's own (unshare -n, a
 * sandbox), beside a process left outside that listens on the same port in
 * the checkpointer's namespace. Inside: the loopback up, a TCP listener on
 * 127.0.0.1 at that port, a UDP socket, a listening UNIX socket under an
 * abstract name (abstract names belong to the network namespace). After the
 * restart both listeners must accept on their own side, the abstract name
 * must be reachable inside, and the namespace must have its loopback only.
 * usage: netns SEED   (as a user, inside a user namespace of its own) */
#include "fixture.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static int listener(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4)) return -1;
    return s;
}

static int port_of(int s) {
    struct sockaddr_in a;
    socklen_t n = sizeof a;
    return getsockname(s, (struct sockaddr *)&a, &n) ? -1 : ntohs(a.sin_port);
}

/* Connects to 127.0.0.1:port, accepts on `s`, passes a byte through. */
static int reachable(const char *who, int s, int port, char byte) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(c, (struct sockaddr *)&a, sizeof a)) { fail("%s: connect to port %d: %m", who, port); return 1; }
    int in = accept(s, NULL, NULL);
    char got = 0;
    if (in < 0 || write(c, &byte, 1) != 1 || read(in, &got, 1) != 1 || got != byte) { fail("%s: no byte through port %d", who, port); return 1; }
    close(in);
    close(c);
    return 0;
}

static struct sockaddr_un abstract(unsigned seed, socklen_t *len) {
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "swiftcr-netns-%u", seed);
    *len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
    return a;
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    handle_term();
    int port_pipe[2];
    if (pipe(port_pipe)) return 1;
    pid_t outside = fork();
    if (outside == 0) {
        int s = listener(0);
        int port = port_of(s);
        if (s < 0 || write(port_pipe[1], &port, sizeof port) != sizeof port) _exit(1);
        wait_for_term();
        _exit(reachable("outside child", s, port, 'o'));
    }
    int port = 0;
    if (read(port_pipe[0], &port, sizeof port) != sizeof port || port <= 0) { printf("FAIL: outside child did not listen\n"); return 1; }
    if (unshare_as_self(CLONE_NEWNET)) return 1;
    int probe = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq lo = { .ifr_name = "lo" };
    if (ioctl(probe, SIOCGIFFLAGS, &lo)) { printf("FAIL: SIOCGIFFLAGS: %m\n"); return 1; }
    lo.ifr_flags |= IFF_UP;
    if (ioctl(probe, SIOCSIFFLAGS, &lo)) { printf("FAIL: loopback up: %m\n"); return 1; }
    close(probe);
    int s = listener(port);  /* the same port as outside: another namespace */
    if (s < 0) { printf("FAIL: listen on %d inside: %m\n", port); return 1; }
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(u, (struct sockaddr *)&ua, sizeof ua)) { printf("FAIL: udp bind: %m\n"); return 1; }
    socklen_t alen;
    struct sockaddr_un aa = abstract(seed, &alen);
    int x = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(x, (struct sockaddr *)&aa, alen) || listen(x, 2)) { printf("FAIL: abstract bind: %m\n"); return 1; }
    ready();
    wait_for_term();
    int failed = reachable("inside", s, port, 'i');
    /* A datagram to ourselves through the restored UDP socket. */
    char d = 'u', got = 0;
    if (sendto(u, &d, 1, 0, (struct sockaddr *)&ua, sizeof ua) != 1 || recv(u, &got, 1, MSG_DONTWAIT) != 1 || got != 'u') {
        fail("udp on port %d inside: %m", port);
        failed = 1;
    }
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&aa, alen)) { fail("abstract name swiftcr-netns-%u inside: %m", seed); failed = 1; }
    struct if_nameindex *names = if_nameindex();
    for (struct if_nameindex *n = names; n && n->if_name; n++)
        if (strcmp(n->if_name, "lo")) { fail("interface %s inside", n->if_name); failed = 1; }
    if (names) if_freenameindex(names);
    kill(outside, SIGTERM);
    int status;
    waitpid(outside, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) { fail("outside child: status 0x%x", status); failed = 1; }
    return finish() | failed;
}
