/* Peer credentials of UNIX sockets after a restart: a socket pair's
 * SO_PEERCRED user and group and its SO_PEERGROUPS must be this process's
 * (they were when it made the pair), and a client connecting to its
 * listener after the restart must see this process's user and group as
 * the server's. Run by a user and restarted by root, root's would show.
 * (The PID in them is cr_restart's: not checked.) */
#include "fixture.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

static int cmp_gid(const void *a, const void *b) { return (*(const gid_t *)a > *(const gid_t *)b) - (*(const gid_t *)a < *(const gid_t *)b); }

static void check_peer(int fd, const char *what) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) { fail("%s: SO_PEERCRED: %s", what, strerror(errno)); return; }
    if (cred.uid != geteuid() || cred.gid != getegid())
        fail("%s: peer credentials uid %u gid %u, want this process's %u %u", what, cred.uid, cred.gid, geteuid(), getegid());
}

static void check_groups(int fd, const char *what) {
    gid_t peer[256], mine[256];
    socklen_t len = sizeof peer;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer, &len) != 0) { fail("%s: SO_PEERGROUPS: %s", what, strerror(errno)); return; }
    int n = (int)(len / sizeof(gid_t)), m = getgroups(256, mine);
    qsort(peer, n, sizeof(gid_t), cmp_gid);
    qsort(mine, m, sizeof(gid_t), cmp_gid);
    if (n != m || memcmp(peer, mine, n * sizeof(gid_t)) != 0) fail("%s: %d peer groups, this process has %d (or others)", what, n, m);
}

int main(void) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) { fail("socketpair: %s", strerror(errno)); return finish(); }
    struct sockaddr_un name = { .sun_family = AF_UNIX };
    int length = snprintf(name.sun_path + 1, sizeof name.sun_path - 1, "swiftcr-peercred-%d", getpid()) + 1;
    socklen_t namelen = offsetof(struct sockaddr_un, sun_path) + length;
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&name, namelen) != 0 || listen(listener, 4) != 0) { fail("listen: %s", strerror(errno)); return finish(); }
    check_peer(pair[0], "pair before");
    ready();
    wait_for_term();
    check_peer(pair[0], "pair");
    check_peer(pair[1], "other end of the pair");
    check_groups(pair[0], "pair");
    int client = socket(AF_UNIX, SOCK_STREAM, 0);
    if (client < 0 || connect(client, (struct sockaddr *)&name, namelen) != 0) fail("connect to the listener: %s", strerror(errno));
    else check_peer(client, "a new client's view of the listener");
    return finish();
}
