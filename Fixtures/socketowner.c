/* Who owns a restored socket: a TCP listener and a UDP socket with
 * SO_REUSEPORT, and a UNIX listener. After a restart each must still be
 * this process's user's (fstat), and a new SO_REUSEPORT socket of this
 * user must join each port (the kernel lets only sockets of one user share
 * a port so). Run by a user and restarted by root, root's would own them. */
#include "fixture.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static int reuseport_socket(int type, struct sockaddr_in *at) {
    int fd = socket(AF_INET, type, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) return -1;
    if (bind(fd, (struct sockaddr *)at, sizeof *at) != 0) { close(fd); return -1; }
    if (type == SOCK_STREAM && listen(fd, 4) != 0) { close(fd); return -1; }
    return fd;
}

static void check_owner(int fd, const char *what) {
    struct stat st;
    if (fstat(fd, &st) != 0) fail("%s: fstat: %s", what, strerror(errno));
    else if (st.st_uid != geteuid()) fail("%s: owned by uid %u, want this process's %u", what, st.st_uid, geteuid());
}

int main(void) {
    struct sockaddr_in tcp = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, udp = tcp;
    socklen_t len = sizeof tcp;
    int t = reuseport_socket(SOCK_STREAM, &tcp), u = reuseport_socket(SOCK_DGRAM, &udp);
    if (t < 0 || u < 0) { fail("SO_REUSEPORT sockets: %s", strerror(errno)); return finish(); }
    getsockname(t, (struct sockaddr *)&tcp, &len);
    len = sizeof udp;
    getsockname(u, (struct sockaddr *)&udp, &len);
    struct sockaddr_un name = { .sun_family = AF_UNIX };
    int length = snprintf(name.sun_path + 1, sizeof name.sun_path - 1, "swiftcr-socketowner-%d", getpid()) + 1;
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&name, offsetof(struct sockaddr_un, sun_path) + length) != 0 || listen(l, 4) != 0) {
        fail("UNIX listener: %s", strerror(errno));
        return finish();
    }
    ready();
    wait_for_term();
    check_owner(t, "TCP listener");
    check_owner(u, "UDP socket");
    check_owner(l, "UNIX listener");
    if (reuseport_socket(SOCK_STREAM, &tcp) < 0) fail("a new SO_REUSEPORT listener cannot join port %d: %s", ntohs(tcp.sin_port), strerror(errno));
    if (reuseport_socket(SOCK_DGRAM, &udp) < 0) fail("a new SO_REUSEPORT UDP socket cannot join port %d: %s", ntohs(udp.sin_port), strerror(errno));
    return finish();
}
