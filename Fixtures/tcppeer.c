/* A TCP connection whose peer is outside the checkpoint and talks while
 * the checkpointed end does not exist: between the --kill checkpoint and
 * the restart the test has the peer (a process of its own, its PID in
 * PIDFILE) send "hello". Unless the connection's segments are held back
 * meanwhile, the kernel answers that segment with a reset and the peer's
 * end is gone. After the restart (SIGTERM) this end must read "hello",
 * send "ping" and get "pong" back. A second connection, which the peer
 * shut for writing before the checkpoint, must read end of file: its FIN,
 * sent to the restored socket again by the restart, must get through.
 * Usage: tcppeer PIDFILE */
#include "fixture.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

static volatile sig_atomic_t go;
static void on_usr1(int sig) { (void)sig; go = 1; }

/* Reads exactly n bytes within `seconds`; 0 on success. */
static int read_within(int fd, char *buf, size_t n, int seconds) {
    size_t got = 0;
    while (got < n) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, seconds * 1000);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        ssize_t k = read(fd, buf + got, n - got);
        if (k <= 0) return -1;
        got += (size_t)k;
    }
    return 0;
}

static void peer(const struct sockaddr_in *a, const char *pidfile) {
    alarm(60);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    int c = socket(AF_INET, SOCK_STREAM, 0), shut = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (const struct sockaddr *)a, sizeof *a)) _exit(1);
    if (shut < 0 || connect(shut, (const struct sockaddr *)a, sizeof *a) || shutdown(shut, SHUT_WR)) _exit(1);
    FILE *f = fopen(pidfile, "w");
    if (!f) _exit(1);
    fprintf(f, "%d\n", getpid());
    fclose(f);
    while (!go) sigsuspend(&old);
    if (write(c, "hello", 5) != 5) _exit(1);
    char ping[4];
    if (read_within(c, ping, 4, 50) || memcmp(ping, "ping", 4) || write(c, "pong", 4) != 4) _exit(1);
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: tcppeer PIDFILE\n"); return 2; }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &len)) {
        fail("listener: %s", strerror(errno));
        return finish();
    }
    /* The peer is a grandchild: not ours to wait for, and left out of the checkpoint. */
    pid_t middle = fork();
    if (middle == 0) {
        close(l);
        if (fork() == 0) peer(&a, argv[1]);
        _exit(0);
    }
    waitpid(middle, NULL, 0);
    int s = accept(l, NULL, NULL), shut = accept(l, NULL, NULL);
    close(l);
    if (s < 0 || shut < 0) { fail("accept: %s", strerror(errno)); return finish(); }
    for (int k = 0; k < 100 && access(argv[1], F_OK); k++) usleep(10000);
    ready();
    wait_for_term();
    char hello[5], pong[4];
    if (read_within(s, hello, 5, 20)) fail("no \"hello\" from the peer after the restart: %s", errno ? strerror(errno) : "timed out");
    else if (memcmp(hello, "hello", 5)) fail("the peer sent something else than \"hello\"");
    else if (write(s, "ping", 4) != 4) fail("ping: %s", strerror(errno));
    else if (read_within(s, pong, 4, 20) || memcmp(pong, "pong", 4)) fail("no \"pong\" from the peer: its end is gone");
    struct pollfd p = { .fd = shut, .events = POLLIN };
    char c;
    if (poll(&p, 1, 20000) != 1 || read(shut, &c, 1) != 0) fail("the connection the peer shut does not read end of file");
    return finish();
}
