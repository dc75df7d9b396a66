/* A child whose main thread has exited (pthread_exit) while another of its
 * threads runs on, ticking into a pipe: its leader looks like a zombie, the
 * process lives. A checkpoint must refuse it rather than save it as a
 * zombie (and --kill must then not fire); after the refusal the child
 * must still tick. Prints "LEADERGONE <child pid>" before READY. */
#include "fixture.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>

static int tick_fd;

static void *ticker(void *arg) {
    (void)arg;
    for (;;) {
        if (write(tick_fd, "t", 1) != 1) _exit(1);
        usleep(20000);
    }
    return NULL;
}

int main(void) {
    int p[2];
    if (pipe(p) != 0) { fail("pipe"); return finish(); }
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        tick_fd = p[1];
        pthread_t t;
        if (pthread_create(&t, NULL, ticker, NULL) != 0) _exit(1);
        pthread_exit(NULL);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    usleep(100000);
    printf("LEADERGONE %d\n", child);
    ready();
    wait_for_term();

    char buf[256];
    while (read(p[0], buf, sizeof buf) > 0) {}
    struct pollfd q = { p[0], POLLIN, 0 };
    if (poll(&q, 1, 1000) != 1 || read(p[0], buf, 1) != 1) fail("the child's running thread stopped ticking");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return finish();
}
