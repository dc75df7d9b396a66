/* UDP datagrams received and not yet read at the checkpoint: an IPv4
 * server holds a seeded number of them, of seeded sizes, from a live socket
 * of the process and from one closed since; a dual-stack IPv6 server one
 * from an IPv4 socket and one from an IPv6 socket; a connected socket one
 * from its peer. After restart each comes out in order, whole, with
 * recvfrom naming its sender, nothing more waits, and the server's answer
 * to the live sender's address reaches it. With "outside" (root), the first
 * datagram at each server comes from a child (IPv4, IPv6), outside a single-process checkpoint, that
 * keeps its port until told "bye" (the restart cannot bind that address: a
 * raw socket writes it into the packet).
 * Usage: udpqueue [SEED] [outside]. Prints PASS. */
#include "fixture.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int udp(int family, const char *ip, struct sockaddr_storage *name) {
    int fd = socket(family, SOCK_DGRAM, 0);
    struct sockaddr_storage a = { 0 };
    socklen_t length;
    if (family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&a;
        v4->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &v4->sin_addr);
        length = sizeof *v4;
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a;
        v6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &v6->sin6_addr);
        length = sizeof *v6;
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, length) != 0) { fail("bind %s: %s", ip, strerror(errno)); exit(finish()); }
    length = sizeof *name;
    getsockname(fd, (struct sockaddr *)name, &length);
    return fd;
}

static socklen_t size_of(const struct sockaddr_storage *a) {
    return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void send_to(int fd, const void *data, size_t n, const struct sockaddr_storage *to) {
    if (sendto(fd, data, n, 0, (const struct sockaddr *)to, size_of(to)) != (ssize_t)n) fail("sendto: %s", strerror(errno));
}

/* The next datagram must be `want` (n bytes) from the port `port` of family `family`. */
static void expect(int fd, const char *what, const unsigned char *want, size_t n, int family, in_port_t port) {
    unsigned char got[70000];
    struct sockaddr_storage from = { 0 };
    socklen_t length = sizeof from;
    ssize_t r = recvfrom(fd, got, sizeof got, MSG_DONTWAIT, (struct sockaddr *)&from, &length);
    if (r < 0) { fail("%s: nothing waits (%s)", what, strerror(errno)); return; }
    if ((size_t)r != n || memcmp(got, want, n) != 0) { fail("%s: %zd bytes, not the %zu saved", what, r, n); return; }
    in_port_t p = from.ss_family == AF_INET ? ((struct sockaddr_in *)&from)->sin_port : ((struct sockaddr_in6 *)&from)->sin6_port;
    if (from.ss_family != family || p != port) fail("%s: from family %d port %d, not %d port %d", what, from.ss_family, ntohs(p), family, ntohs(port));
}

static void nothing_more(int fd, const char *what) {
    char c;
    if (recv(fd, &c, 1, MSG_DONTWAIT) >= 0 || errno != EAGAIN) fail("%s: more waits than was saved", what);
}

static in_port_t port_of(const struct sockaddr_storage *a) {
    return a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port : ((const struct sockaddr_in6 *)a)->sin6_port;
}

/* A child that sends `what` to `to` from a port of its own, says which, and
 * keeps the port until a datagram comes to it (or 30 s pass). */
static void outside_sender(int family, const char *what, const struct sockaddr_storage *to, struct sockaddr_storage *name) {
    int told[2];
    if (pipe(told) != 0) { fail("pipe: %s", strerror(errno)); return; }
    pid_t child = fork();
    if (child == 0) {
        int o = udp(family, family == AF_INET ? "127.0.0.1" : "::1", name);
        send_to(o, what, strlen(what), to);
        if (write(told[1], name, sizeof *name) != (ssize_t)sizeof *name) _exit(1);
        for (int fd = 0; fd < 1024; fd++) if (fd != o) close(fd);  /* not the test's pipes */
        struct timeval limit = { 30, 0 };
        setsockopt(o, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        char bye[8];
        (void)recv(o, bye, sizeof bye, 0);
        _exit(0);
    }
    if (child < 0 || read(told[0], name, sizeof *name) != (ssize_t)sizeof *name) fail("the outside sender did not start");
    close(told[0]);
    close(told[1]);
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)atoi(argv[1]) : (unsigned)getpid();
    int outside = argc > 2 && strcmp(argv[2], "outside") == 0;
    srand(seed);
    struct sockaddr_storage srvName, liveName, goneName, srv6Name, v4Name, v6Name, aName, bName;
    int server = udp(AF_INET, "127.0.0.1", &srvName), live = udp(AF_INET, "127.0.0.1", &liveName);
    int gone = udp(AF_INET, "127.0.0.1", &goneName);
    int server6 = udp(AF_INET6, "::", &srv6Name), v4 = udp(AF_INET, "127.0.0.1", &v4Name), v6 = udp(AF_INET6, "::1", &v6Name);
    int a = udp(AF_INET, "127.0.0.1", &aName), b = udp(AF_INET, "127.0.0.1", &bName);
    if (connect(a, (struct sockaddr *)&bName, size_of(&bName)) != 0) fail("connect: %s", strerror(errno));

    struct sockaddr_storage outName = { 0 }, out6Name = { 0 };
    if (outside) outside_sender(AF_INET, "from outside", &srvName, &outName);
    /* The IPv4 server's queue: seeded sizes, from the live socket and the gone one in turn. */
    enum { most = 12 };
    int count = 2 + rand() % (most - 1);
    static unsigned char data[most][1400];
    size_t sizes[most];
    for (int k = 0; k < count; k++) {
        sizes[k] = 1 + rand() % sizeof data[k];
        for (size_t i = 0; i < sizes[k]; i++) data[k][i] = (unsigned char)rand();
        send_to(k % 3 == 2 ? gone : live, data[k], sizes[k], &srvName);
    }
    close(gone);
    /* The dual-stack server: one from IPv4 (it sees ::ffff:127.0.0.1), one from IPv6. */
    struct sockaddr_storage to4 = { 0 }, to6 = { 0 };
    ((struct sockaddr_in *)&to4)->sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &((struct sockaddr_in *)&to4)->sin_addr);
    ((struct sockaddr_in *)&to4)->sin_port = port_of(&srv6Name);
    ((struct sockaddr_in6 *)&to6)->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &((struct sockaddr_in6 *)&to6)->sin6_addr);
    ((struct sockaddr_in6 *)&to6)->sin6_port = port_of(&srv6Name);
    if (outside) outside_sender(AF_INET6, "from outside six", &to6, &out6Name);
    send_to(v4, "from four", 9, &to4);
    send_to(v6, "from six", 8, &to6);
    /* The connected socket's, from its peer. */
    send_to(b, "to the connected one", 20, &aName);

    ready();
    wait_for_term();
    if (outside) {
        expect(server, "the datagram from outside", (const unsigned char *)"from outside", 12, AF_INET, port_of(&outName));
        send_to(server, "bye", 3, &outName);
    }
    for (int k = 0; k < count; k++) {
        char what[32];
        snprintf(what, sizeof what, "datagram %d of %d", k + 1, count);
        expect(server, what, data[k], sizes[k], AF_INET, port_of(k % 3 == 2 ? &goneName : &liveName));
    }
    nothing_more(server, "the IPv4 server");
    if (outside) {
        expect(server6, "the IPv6 datagram from outside", (const unsigned char *)"from outside six", 16, AF_INET6, port_of(&out6Name));
        send_to(server6, "bye", 3, &out6Name);
    }
    expect(server6, "the IPv4 datagram at the IPv6 server", (const unsigned char *)"from four", 9, AF_INET6, port_of(&v4Name));
    expect(server6, "the IPv6 datagram", (const unsigned char *)"from six", 8, AF_INET6, port_of(&v6Name));
    nothing_more(server6, "the IPv6 server");
    expect(a, "the connected socket's", (const unsigned char *)"to the connected one", 20, AF_INET, port_of(&bName));
    nothing_more(a, "the connected socket");
    /* The live sender's socket is still its own: the server's answer reaches it. */
    send_to(server, "answer", 6, &liveName);
    expect(live, "the answer", (const unsigned char *)"answer", 6, AF_INET, port_of(&srvName));
    return finish();
}
