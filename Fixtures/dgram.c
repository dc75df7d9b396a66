/* UNIX datagram sockets that are not a pair: a server bound to a path with
 * messages waiting from a connected client and from an unbound sender, from
 * a live sender bound to an abstract name (the server answers it by the
 * name recvfrom gives) and from one bound to a path, closed and its file
 * removed since (recvfrom still names it; no file is left there), and a
 * client connected to a receiver outside the checkpoint (a daemon, like
 * syslog's /dev/log), and a socket connected to its own name. After restart the server has its name and its
 * messages, the client still reaches it, and the outside receiver gets what
 * the restored client sends.
 * Usage: dgram DIR */
#include "fixture.h"
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stddef.h>
#include <time.h>

static struct sockaddr_un path_in(const char *dir, const char *name) {
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, name);
    return a;
}

static void expect_message(int fd, const char *want, const char *what) {
    char buf[64];
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r != (ssize_t)strlen(want) || memcmp(buf, want, (size_t)r) != 0)
        fail("%s: message of %zd bytes, want \"%s\"", what, r, want);
}

/* A receiver that is not our child (so not in the checkpoint): it writes the
 * first message it gets to DIR/outside.got and exits; alarm bounds it. */
static void start_outside_receiver(const char *dir, struct sockaddr_un *at) {
    int sync[2];
    if (pipe(sync) != 0) { fail("pipe"); return; }
    pid_t child = fork();
    if (child == 0) {
        if (fork() != 0) _exit(0);
        setsid();
        alarm(60);
        /* Hold nothing of the fixture's: its sockets must die with it. */
        for (int fd = 3; fd < 1024; fd++) if (fd != sync[1]) close(fd);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0); dup2(null, 1); dup2(null, 2);
        if (null > 2) close(null);
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        unlink(at->sun_path);
        char ok = bind(s, (struct sockaddr *)at, sizeof *at) == 0 ? 'y' : 'n';
        if (write(sync[1], &ok, 1) != 1) _exit(1);
        char buf[64];
        ssize_t n = recv(s, buf, sizeof buf, 0);
        char got[4200], tmp[4200];
        snprintf(got, sizeof got, "%s/outside.got", dir);
        snprintf(tmp, sizeof tmp, "%s/outside.tmp", dir);
        int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out >= 0 && n > 0 && write(out, buf, (size_t)n) == n) rename(tmp, got);
        unlink(at->sun_path);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    close(sync[1]);
    char ok = 0;
    if (read(sync[0], &ok, 1) != 1 || ok != 'y') fail("the outside receiver could not bind %s", at->sun_path);
    close(sync[0]);
}

static void expect_outside_got(const char *dir, const char *want) {
    char got[4200], buf[64] = { 0 };
    snprintf(got, sizeof got, "%s/outside.got", dir);
    for (int i = 0; i < 100; i++) {
        int fd = open(got, O_RDONLY);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n != (ssize_t)strlen(want) || memcmp(buf, want, (size_t)n) != 0) fail("the outside receiver got \"%s\", want \"%s\"", buf, want);
            return;
        }
        struct timespec t = { 0, 50 * 1000 * 1000 };
        nanosleep(&t, NULL);
    }
    fail("the outside receiver got nothing from the restored client");
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *dir = argv[1];
    struct sockaddr_un server_at = path_in(dir, "dgram.sock"), outside_at = path_in(dir, "outside.sock");

    unlink(server_at.sun_path);
    int server = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(server, (struct sockaddr *)&server_at, sizeof server_at) != 0) { fail("bind: %s", strerror(errno)); return finish(); }
    int client = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (connect(client, (struct sockaddr *)&server_at, sizeof server_at) != 0) fail("connect: %s", strerror(errno));
    send(client, "from the client", 15, 0);
    int stranger = socket(AF_UNIX, SOCK_DGRAM, 0);
    sendto(stranger, "from a stranger", 15, 0, (struct sockaddr *)&server_at, sizeof server_at);
    close(stranger);
    /* Senders with names, which recvfrom must give again. */
    struct sockaddr_un asker_at = { .sun_family = AF_UNIX };
    int asker_length = snprintf(asker_at.sun_path + 1, sizeof asker_at.sun_path - 1, "swiftcr-dgram-asker.%d", getpid()) + 1;
    socklen_t asker_size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + asker_length);
    int asker = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(asker, (struct sockaddr *)&asker_at, asker_size) != 0) fail("bind the asker: %s", strerror(errno));
    sendto(asker, "question", 8, 0, (struct sockaddr *)&server_at, sizeof server_at);
    struct sockaddr_un gone_at = path_in(dir, "gone.sock");
    unlink(gone_at.sun_path);
    int gone = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(gone, (struct sockaddr *)&gone_at, sizeof gone_at) != 0) fail("bind the gone sender: %s", strerror(errno));
    sendto(gone, "farewell", 8, 0, (struct sockaddr *)&server_at, sizeof server_at);
    close(gone);
    unlink(gone_at.sun_path);

    /* Bound and connected to its own name, with a message to itself waiting. */
    struct sockaddr_un self_at = path_in(dir, "self.sock");
    unlink(self_at.sun_path);
    int self = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(self, (struct sockaddr *)&self_at, sizeof self_at) != 0 || connect(self, (struct sockaddr *)&self_at, sizeof self_at) != 0)
        fail("self-connected socket: %s", strerror(errno));
    send(self, "to myself", 9, 0);

    start_outside_receiver(dir, &outside_at);
    int logger = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (connect(logger, (struct sockaddr *)&outside_at, sizeof outside_at) != 0) fail("connect outside: %s", strerror(errno));

    ready();
    wait_for_term();

    expect_message(server, "from the client", "bound server, message 1");
    expect_message(server, "from a stranger", "bound server, message 2");
    struct sockaddr_un from;
    socklen_t from_length = sizeof from;
    char buf[64];
    ssize_t got = recvfrom(server, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_length);
    if (got != 8 || memcmp(buf, "question", 8) != 0) fail("bound server, message 3: %zd bytes, want \"question\"", got);
    else if (from_length != asker_size || memcmp(from.sun_path, asker_at.sun_path, (size_t)asker_length) != 0)
        fail("the question's sender is named %.*s (%u bytes), not @%s", (int)from_length > 3 ? (int)from_length - 3 : 0, from.sun_path + 1, from_length, asker_at.sun_path + 1);
    else if (sendto(server, "answer", 6, 0, (struct sockaddr *)&from, from_length) != 6) fail("answer the asker by the name recvfrom gave: %s", strerror(errno));
    else expect_message(asker, "answer", "the asker, answered by name");
    from_length = sizeof from;
    got = recvfrom(server, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_length);
    if (got != 8 || memcmp(buf, "farewell", 8) != 0) fail("bound server, message 4: %zd bytes, want \"farewell\"", got);
    else if (from_length <= offsetof(struct sockaddr_un, sun_path) || strcmp(from.sun_path, gone_at.sun_path) != 0)
        fail("the farewell's sender is named \"%s\", not %s", from_length > 2 ? from.sun_path : "", gone_at.sun_path);
    struct stat left;
    if (lstat(gone_at.sun_path, &left) == 0) fail("a file is left at the gone sender's path %s", gone_at.sun_path);
    struct sockaddr_un name;
    socklen_t length = sizeof name;
    if (getsockname(server, (struct sockaddr *)&name, &length) != 0 || strcmp(name.sun_path, server_at.sun_path) != 0)
        fail("the server is no longer bound to %s", server_at.sun_path);
    if (send(client, "again", 5, 0) != 5) fail("connected client: send after restart: %s", strerror(errno));
    else expect_message(server, "again", "connected client after restart");
    int late = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (sendto(late, "late", 4, 0, (struct sockaddr *)&server_at, sizeof server_at) != 4) fail("sendto the server by name: %s", strerror(errno));
    else expect_message(server, "late", "a new sender after restart");
    expect_message(self, "to myself", "self-connected socket, waiting message");
    struct sockaddr_un peer;
    length = sizeof peer;
    if (getpeername(self, (struct sockaddr *)&peer, &length) != 0 || strcmp(peer.sun_path, self_at.sun_path) != 0)
        fail("the self-connected socket is no longer connected to its own name");
    if (send(self, "once more", 9, 0) != 9) fail("self-connected socket: send after restart: %s", strerror(errno));
    else expect_message(self, "once more", "self-connected socket after restart");
    if (send(logger, "to the outside", 14, 0) != 14) fail("client of the outside receiver: send after restart: %s", strerror(errno));
    else expect_outside_got(dir, "to the outside");
    return finish();
}
