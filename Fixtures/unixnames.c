/* UNIX socket names whose files changed after bind, and connections not
 * yet accepted. After restart:
 * - a listener whose socket file has mode 0640 (and the caller as owner)
 *   still has that mode and owner, though the killed original left its file;
 * - a client connected to it and never accepted is there to accept;
 * - two listeners bound to one path (the first's file moved aside while the
 *   second bound, then moved back over it) are both alive, and the path is
 *   the first's file again: a connect reaches the first;
 * - a datagram socket bound to a path that is now a FIFO, and a socket
 *   connected to it by that name: the datagram still arrives, and the
 *   path is still the FIFO;
 * - a datagram socket bound in a directory removed since (with its socket
 *   file), and a socket connected to it by that name: the datagram still
 *   arrives, the socket keeps its name, and the directory stays removed.
 * Usage: unixnames DIR */
#include "fixture.h"
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static socklen_t name(struct sockaddr_un *a, const char *dir, const char *file) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, file);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

static int listener(struct sockaddr_un *a, socklen_t l) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(s, (struct sockaddr *)a, l) != 0 || listen(s, 4) != 0) fail("listen on %s: %s", a->sun_path, strerror(errno));
    return s;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    struct sockaddr_un moded, shared, ghost;
    socklen_t lm = name(&moded, dir, "moded.sock"), ls = name(&shared, dir, "shared.sock"), lg = name(&ghost, dir, "ghost.sock");
    char aside[200];
    snprintf(aside, sizeof aside, "%s/aside", dir);

    int m = listener(&moded, lm);
    chmod(moded.sun_path, 0640);
    int pending = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(pending, (struct sockaddr *)&moded, lm) != 0) fail("connect to the moded listener");

    int first = listener(&shared, ls);
    rename(shared.sun_path, aside);
    int second = listener(&shared, ls);
    rename(aside, shared.sun_path);  /* the path is the first's file again; the second's is gone */

    int g = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(g, (struct sockaddr *)&ghost, lg) != 0) fail("bind the datagram socket");
    int sender = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (connect(sender, (struct sockaddr *)&ghost, lg) != 0) fail("connect to the datagram socket");
    unlink(ghost.sun_path);
    mkfifo(ghost.sun_path, 0600);
    int fifo = open(ghost.sun_path, O_RDWR);

    char gone[200], deeper[220];
    snprintf(gone, sizeof gone, "%s/gone", dir);
    snprintf(deeper, sizeof deeper, "%s/gone/deeper", dir);
    struct sockaddr_un lost;
    mkdir(gone, 0755);
    mkdir(deeper, 0755);
    socklen_t ll = name(&lost, deeper, "lost.sock");
    int lg2 = socket(AF_UNIX, SOCK_DGRAM, 0), lsender = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(lg2, (struct sockaddr *)&lost, ll) != 0) fail("bind in the directory to be removed");
    if (connect(lsender, (struct sockaddr *)&lost, ll) != 0) fail("connect in the directory to be removed");
    unlink(lost.sun_path);
    if (rmdir(deeper) != 0 || rmdir(gone) != 0) fail("rmdir: %s", strerror(errno));

    ready();
    wait_for_term();

    struct stat st;
    if (stat(moded.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode)) fail("the moded socket file is gone");
    else if ((st.st_mode & 07777) != 0640 || st.st_uid != getuid()) fail("socket file mode %o owner %d, want 640 and %d", st.st_mode & 07777, st.st_uid, getuid());
    fcntl(m, F_SETFL, O_NONBLOCK);
    int accepted = accept(m, NULL, NULL);
    if (accepted < 0) fail("the connection not yet accepted is lost");
    else if (send(pending, "p", 1, MSG_NOSIGNAL) != 1 || recv(accepted, aside, 1, 0) != 1) fail("the accepted connection does not carry data");

    int probe = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(probe, (struct sockaddr *)&shared, ls) != 0) fail("the shared path does not lead to a listener");
    fcntl(first, F_SETFL, O_NONBLOCK);
    fcntl(second, F_SETFL, O_NONBLOCK);
    int at_first = accept(first, NULL, NULL), at_second = accept(second, NULL, NULL);
    if (at_first < 0 || at_second >= 0) fail("the shared path leads to the wrong listener");
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(second, SOL_SOCKET, SO_ACCEPTCONN, &type, &tl) != 0 || type != 1) fail("the second listener is not listening");

    if (send(sender, "dgram", 5, 0) != 5) fail("the connected datagram socket cannot send: %s", strerror(errno));
    char buf[8] = { 0 };
    if (recv(g, buf, sizeof buf, MSG_DONTWAIT) != 5 || memcmp(buf, "dgram", 5) != 0) fail("the datagram did not arrive");
    if (stat(ghost.sun_path, &st) != 0 || !S_ISFIFO(st.st_mode)) fail("the FIFO over the socket's old name is gone");
    if (write(fifo, "f", 1) != 1 || read(fifo, buf, 1) != 1) fail("the FIFO does not work");

    if (send(lsender, "lost", 4, 0) != 4) fail("the socket connected into the removed directory cannot send: %s", strerror(errno));
    memset(buf, 0, sizeof buf);
    if (recv(lg2, buf, sizeof buf, MSG_DONTWAIT) != 4 || memcmp(buf, "lost", 4) != 0) fail("the datagram into the removed directory did not arrive");
    struct sockaddr_un named;
    socklen_t nl = sizeof named;
    if (getsockname(lg2, (struct sockaddr *)&named, &nl) != 0 || strcmp(named.sun_path, lost.sun_path) != 0) fail("the socket in the removed directory lost its name");
    if (stat(gone, &st) == 0) fail("the removed directory %s is back", gone);
    return finish();
}
