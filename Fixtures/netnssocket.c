/* Sockets that live in a network namespace other than their process's, as
 * a program that makes them and then calls setns has them (zdtm
 * netns_sub): the process has a namespace of its own (A); its child makes
 * another (B) and stays there; the child's child, born in B, binds a UNIX
 * datagram socket to an abstract name and a UDP socket to a port there,
 * then moves to A and keeps both. Seeded names and ports. After the
 * restart both kept sockets must be in one namespace other than the
 * grandchild's (SIOCGSKNS), the name and the port must reach them from B,
 * and neither from A, where the grandchild now is.
 * usage: netnssocket SEED   (as a user, inside a user namespace of its own) */
#include "fixture.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stddef.h>

#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C
#endif

static unsigned seed, port;
static struct sockaddr_un name;
static socklen_t name_length;

/* Whether a datagram sent from this process's namespace reaches `fd`. */
static int reaches(int fd, int unix_socket) {
    int s = socket(unix_socket ? AF_UNIX : AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ssize_t sent = unix_socket ? sendto(s, "n", 1, 0, (struct sockaddr *)&name, name_length) : sendto(s, "n", 1, 0, (struct sockaddr *)&to, sizeof to);
    close(s);
    if (sent != 1) return 0;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char c;
    return poll(&p, 1, 300) == 1 && recv(fd, &c, 1, 0) == 1;
}

static ino_t namespace_of(int fd) {
    int ns = ioctl(fd, SIOCGSKNS);
    struct stat st;
    if (ns < 0 || fstat(ns, &st)) return 0;
    close(ns);
    return st.st_ino;
}

static ino_t namespace_at(const char *path) {
    struct stat st;
    return stat(path, &st) ? 0 : st.st_ino;
}

/* The grandchild: born in B, it makes the sockets, then lives in A. */
static int grandchild(int to_a, int ready_fd) {
    int u = socket(AF_UNIX, SOCK_DGRAM, 0), d = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(u, (struct sockaddr *)&name, name_length) || bind(d, (struct sockaddr *)&at, sizeof at)) { printf("FAIL: bind in B: %m\n"); return 1; }
    if (setns(to_a, CLONE_NEWNET)) { printf("FAIL: setns to A: %m\n"); return 1; }
    close(to_a);
    char c = 1;
    if (write(ready_fd, &c, 1) != 1) return 1;
    wait_for_term();
    /* Both in one namespace, not this one (the keeper's /proc entry may show
     * another PID namespace's numbers: the datagrams below say which). */
    ino_t here = namespace_at("/proc/self/ns/net"), su = namespace_of(u), sd = namespace_of(d);
    if (!su || su != sd || su == here) fail("the kept sockets are not in one namespace other than the grandchild's after the restart");
    /* The keeper (in B) sent one datagram to each before it passed SIGTERM on. */
    char got = 0;
    struct pollfd p[2] = { { .fd = u, .events = POLLIN }, { .fd = d, .events = POLLIN } };
    for (int k = 0; k < 2; k++)
        if (poll(&p[k], 1, 3000) != 1 || recv(p[k].fd, &got, 1, 0) != 1 || got != 'b') fail("the %s socket got nothing from B", k ? "UDP" : "UNIX");
    if (reaches(u, 1) || reaches(d, 0)) fail("a socket of B is reachable from A");
    return fixture_failures ? 1 : 0;
}

int main(int argc, char **argv) {
    seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    port = 2000 + seed_mix(seed) % 20000;
    handle_term();
    name.sun_family = AF_UNIX;
    int n = snprintf(name.sun_path + 1, sizeof name.sun_path - 1, "swiftcr-netnssocket-%u", seed);
    name_length = offsetof(struct sockaddr_un, sun_path) + 1 + n;
    if (unshare_as_self(CLONE_NEWNET)) return 1;
    int lo = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq { char name[16]; short flags; char pad[22]; } r = { .name = "lo" };
    if (ioctl(lo, 0x8913, &r) || (r.flags |= 1, ioctl(lo, 0x8914, &r))) { printf("FAIL: lo up in A: %m\n"); return 1; }
    int a = open("/proc/self/ns/net", O_RDONLY);
    int started[2];
    if (a < 0 || pipe(started)) return 1;
    pid_t keeper = fork();
    if (keeper == 0) {
        if (unshare(CLONE_NEWNET)) { printf("FAIL: unshare B: %m\n"); _exit(1); }
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        if (ioctl(s, 0x8913, &r) || (r.flags |= 1, ioctl(s, 0x8914, &r))) { printf("FAIL: lo up in B: %m\n"); _exit(1); }
        close(s);
        pid_t g = fork();
        if (g == 0) _exit(grandchild(a, started[1]));
        close(a);
        wait_for_term();
        /* From B: the name and the port reach the grandchild's sockets. */
        int u = socket(AF_UNIX, SOCK_DGRAM, 0), d = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (sendto(u, "b", 1, 0, (struct sockaddr *)&name, name_length) != 1) printf("FAIL: sendto the name from B: %m\n");
        if (sendto(d, "b", 1, 0, (struct sockaddr *)&to, sizeof to) != 1) printf("FAIL: sendto the port from B: %m\n");
        fflush(stdout);
        int status = 0;
        kill(g, SIGTERM);
        waitpid(g, &status, 0);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
    }
    char c;
    if (read(started[0], &c, 1) != 1) { printf("FAIL: the grandchild did not start\n"); return 1; }
    ready();
    wait_for_term();
    int status = 0;
    kill(keeper, SIGTERM);
    if (waitpid(keeper, &status, 0) != keeper || !WIFEXITED(status) || WEXITSTATUS(status)) fail("the child in B or its child failed (status 0x%x)", status);
    return finish();
}
