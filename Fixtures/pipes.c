/* Pipes: a parent and child share a pipe with 10000 bytes unread (the child
 * reads them after restart, then 5 more the parent writes after restart, so
 * the ends must still be one pipe); the parent also holds a non-blocking pipe
 * enlarged to 1 MiB with 200000 bytes in it. A socketpair split between
 * them likewise carries 3000 unread bytes and then talks both ways. */
#include "fixture.h"
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>

static char pattern(int i, int salt) { return (char)(i * 7 + salt); }

static int read_exactly(int fd, char *buf, int n) {
    int done = 0;
    while (done < n) {
        ssize_t r = read(fd, buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return done;
        done += r;
    }
    return done;
}

int main(void) {
    int p[2], q[2];
    static char buf[200000];
    if (pipe(p) != 0 || pipe2(q, O_NONBLOCK) != 0) { fail("pipe"); return finish(); }
    for (int i = 0; i < 10000; i++) buf[i] = pattern(i, 1);
    if (write(p[1], buf, 10000) != 10000) { fail("fill shared pipe"); return finish(); }
    if (fcntl(q[1], F_SETPIPE_SZ, 1 << 20) < (1 << 20)) { fail("F_SETPIPE_SZ"); return finish(); }
    for (int i = 0; i < 200000; i++) buf[i] = pattern(i, 2);
    if (write(q[1], buf, 200000) != 200000) { fail("fill big pipe"); return finish(); }

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) { fail("socketpair"); return finish(); }
    for (int i = 0; i < 3000; i++) buf[i] = pattern(i, 3);
    if (write(sv[0], buf, 3000) != 3000) { fail("fill socketpair"); return finish(); }

    handle_term();
    pid_t child = fork();
    if (child == 0) {
        close(p[1]);
        close(sv[0]);
        wait_for_term();
        char sgot[3005];
        if (read_exactly(sv[1], sgot, 3005) != 3005) fail("child: short read from the socketpair");
        else {
            for (int i = 0; i < 3000; i++) if (sgot[i] != pattern(i, 3)) { fail("child: byte %d of the socketpair", i); break; }
            if (memcmp(sgot + 3000, "after", 5) != 0) fail("child: the parent's socket write after restart did not arrive");
        }
        if (write(sv[1], "ack", 3) != 3) fail("child: socket reply");
        char got[10005];
        if (read_exactly(p[0], got, 10005) != 10005) { fail("child: short read from the shared pipe"); return finish(); }
        for (int i = 0; i < 10000; i++) if (got[i] != pattern(i, 1)) { fail("child: byte %d of the shared pipe", i); break; }
        if (memcmp(got + 10000, "after", 5) != 0) fail("child: the parent's write after restart did not arrive");
        return finish();
    }
    close(p[0]);
    close(sv[1]);
    usleep(100000);
    ready();
    wait_for_term();
    if (write(p[1], "after", 5) != 5) fail("parent: write after restart");
    if (write(sv[0], "after", 5) != 5) fail("parent: socket write after restart");
    char ack[3];
    if (read_exactly(sv[0], ack, 3) != 3 || memcmp(ack, "ack", 3) != 0) fail("parent: no reply from the child over the socketpair");
    if (fcntl(q[0], F_GETPIPE_SZ) < (1 << 20)) fail("big pipe capacity %d", fcntl(q[0], F_GETPIPE_SZ));
    if (!(fcntl(q[0], F_GETFL) & O_NONBLOCK)) fail("big pipe lost O_NONBLOCK");
    static char got[200000];
    if (read_exactly(q[0], got, 200000) != 200000) fail("big pipe: short read");
    for (int i = 0; i < 200000; i++) if (got[i] != pattern(i, 2)) { fail("big pipe byte %d", i); break; }
    char extra;
    if (read(q[0], &extra, 1) != -1 || errno != EAGAIN) fail("big pipe should be empty and non-blocking");
    int st;
    /* -1, not `child`: with --no-restore-pid the child has a new PID */
    if (waitpid(-1, &st, 0) <= 0) fail("waitpid: %s", strerror(errno));
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail("child failed");
    return finish();
}
