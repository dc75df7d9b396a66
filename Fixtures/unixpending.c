/* A listening UNIX socket with a connection not yet accepted that holds
 * data no call can read without accepting it: "sent" (the client, ours,
 * wrote before the accept) or "closed" (the client wrote and closed). A
 * checkpoint must refuse the process (--kill must not fire); afterwards the
 * program accepts and reads every byte.
 * Usage: unixpending sent|closed DIR */
#include "fixture.h"
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int closed = strcmp(argv[1], "closed") == 0;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s/pending.sock", argv[2]);
    unlink(a.sun_path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0 || connect(c, (struct sockaddr *)&a, sizeof a) != 0) {
        fail("setup: %s", strerror(errno));
        return finish();
    }
    if (send(c, "before accept", 13, 0) != 13) fail("send: %s", strerror(errno));
    if (closed) close(c);
    ready();
    wait_for_term();
    int s = accept(l, NULL, NULL);
    char buf[32] = { 0 };
    if (s < 0 || recv(s, buf, sizeof buf, 0) != 13 || strcmp(buf, "before accept") != 0) fail("the data sent before the accept is lost: '%s'", buf);
    if (closed && recv(s, buf, sizeof buf, 0) != 0) fail("no end of file from the closed client");
    unlink(a.sun_path);
    return finish();
}
