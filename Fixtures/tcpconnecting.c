/* A TCP connect still in progress (SYN_SENT) at the checkpoint: the server is
 * a process outside the checkpoint whose accept queue is full, so our SYNs
 * are dropped. After restart we tell it to accept; the connect must finish
 * on its own (from the port it had) and carry data both ways.
 * One socket is non-blocking and polled; with "blocking", a thread sits in
 * connect() instead, and connect() must return 0 in it after restart.
 * Usage: tcpconnecting [blocking] */
#include "fixture.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>

static struct sockaddr_in server_at;

static int tcp_state(int fd) {
    unsigned char info[8] = { 0 };
    socklen_t length = sizeof info;
    return getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &length) == 0 ? info[0] : -1;
}

/* The server, not our child: it listens with a backlog of 0 and fills that
 * queue with a connection of its own, then on SIGUSR1 accepts every
 * connection and answers "k" on each. alarm() bounds it. Returns its PID. */
static pid_t start_full_server(void) {
    int sync[2];
    if (pipe(sync) != 0) return -1;
    pid_t child = fork();
    if (child == 0) {
        if (fork() != 0) _exit(0);
        setsid();
        alarm(60);
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigprocmask(SIG_BLOCK, &usr1, NULL);
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int filler = socket(AF_INET, SOCK_STREAM, 0);
        int ok = bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 0) == 0 &&
                 getsockname(l, (struct sockaddr *)&a, &len) == 0 && connect(filler, (struct sockaddr *)&a, sizeof a) == 0;
        pid_t me = ok ? getpid() : -1;
        if (write(sync[1], &me, sizeof me) != sizeof me || write(sync[1], &a, sizeof a) != sizeof a) _exit(1);
        close(sync[1]);
        int sig;
        sigwait(&usr1, &sig);
        struct pollfd p = { l, POLLIN, 0 };
        while (poll(&p, 1, 15000) == 1) {
            int c = accept(l, NULL, NULL);
            if (c < 0) break;
            if (write(c, "k", 1) != 1) break;
        }
        _exit(0);
    }
    waitpid(child, NULL, 0);
    close(sync[1]);
    pid_t server = -1;
    if (read(sync[0], &server, sizeof server) != sizeof server || read(sync[0], &server_at, sizeof server_at) != sizeof server_at) server = -1;
    close(sync[0]);
    return server;
}

static int blocking_result = -2;

static void *connect_blocking(void *arg) {
    leave_term_to_main();
    int fd = *(int *)arg;
    blocking_result = connect(fd, (struct sockaddr *)&server_at, sizeof server_at) == 0 ? 0 : errno;
    return NULL;
}

/* Sends first: with a backlog of 0 the server answers SYNs with syncookies,
 * and the handshake's last ACK is dropped while another connection fills the
 * queue; our data carries that ACK again until the server takes it. */
static void expect_answer(int fd, const char *what) {
    char c = 0;
    struct pollfd p = { fd, POLLIN, 0 };
    if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) fail("%s: send after the connect: %s", what, strerror(errno));
    else if (poll(&p, 1, 10000) != 1 || read(fd, &c, 1) != 1 || c != 'k') fail("%s: no answer from the server", what);
}

int main(int argc, char **argv) {
    int blocking = argc > 1 && strcmp(argv[1], "blocking") == 0;
    pid_t server = start_full_server();
    if (server <= 0) { fail("setup: the server did not start"); return finish(); }

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(fd, (struct sockaddr *)&server_at, sizeof server_at) == 0 || errno != EINPROGRESS) fail("setup: connect: %s", strerror(errno));
    struct sockaddr_in local;
    socklen_t len = sizeof local;
    getsockname(fd, (struct sockaddr *)&local, &len);

    pthread_t thread;
    int slow = socket(AF_INET, SOCK_STREAM, 0);
    if (blocking) pthread_create(&thread, NULL, connect_blocking, &slow);
    usleep(200000);
    if (tcp_state(fd) != 2) fail("setup: the connect is in state %d, not SYN_SENT", tcp_state(fd));
    if (blocking && tcp_state(slow) != 2) fail("setup: the blocking connect is in state %d, not SYN_SENT", tcp_state(slow));

    ready();
    wait_for_term();

    if (tcp_state(fd) != 2) fail("the connect is in state %d after restart, not SYN_SENT", tcp_state(fd));
    struct sockaddr_in peer;
    len = sizeof peer;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERNAME, &peer, &len) != 0 || peer.sin_port != server_at.sin_port)
        fail("the connect in progress lost its destination (%s)", strerror(errno));
    kill(server, SIGUSR1);
    struct pollfd p = { fd, POLLOUT, 0 };
    int err = -1;
    len = sizeof err;
    if (poll(&p, 1, 10000) != 1) fail("the connect did not finish within 10 s of the server accepting");
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) fail("the connect failed: %s", strerror(err));
    else {
        struct sockaddr_in now;
        len = sizeof now;
        getsockname(fd, (struct sockaddr *)&now, &len);
        if (now.sin_port != local.sin_port) fail("the connect left from port %d, not %d", ntohs(now.sin_port), ntohs(local.sin_port));
        expect_answer(fd, "non-blocking connect");
    }
    if (blocking) {
        pthread_join(thread, NULL);
        if (blocking_result != 0) fail("the blocking connect returned %s", blocking_result == -2 ? "nothing" : strerror(blocking_result));
        else expect_answer(slow, "blocking connect");
    }
    return finish();
}
