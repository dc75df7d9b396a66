/* Descriptors swiftcr cannot make again keep their numbers: a perf event
 * counter (not saved: it comes back closed, with a warning) at the lowest
 * free number, a dup of it, and a child that inherited it, beside an
 * eventfd that both sit in an epoll set with. After the restart the
 * numbers still name a descriptor (F_GETFD works, /proc says what it
 * stands for) that reads as closed (EBADF), and a new open gets another
 * number: before, it got the counter's, and the program would have taken
 * /dev/null for its counter. The eventfd's epoll watch is still there.
 * usage: heldnumbers */
#include "fixture.h"
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int counter(void) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

/* The descriptor at `fd` holds its number and reads as closed. */
static void held(int fd, const char *what) {
    if (fcntl(fd, F_GETFD) < 0) { fail("%s (fd %d) is gone: its number is free", what, fd); return; }
    char path[64], link[256] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n > 0) link[n] = 0;
    if (!strstr(link, "was not restored")) fail("%s (fd %d) is \"%s\", not what holds its number", what, fd, link);
    uint64_t v;
    errno = 0;
    if (read(fd, &v, sizeof v) != -1 || errno != EBADF) fail("%s (fd %d) reads other than a closed descriptor (errno %d)", what, fd, errno);
}

int main(void) {
    handle_term();
    int c = counter();
    if (c < 0) { fail("perf_event_open: %s", strerror(errno)); return finish(); }
    int copy = dup(c);
    int ev = eventfd(1, EFD_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event e = { .events = EPOLLIN, .data.u32 = 7 };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) fail("epoll_ctl eventfd");
    e.data.u32 = 9;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &e) != 0) fail("epoll_ctl counter: %s", strerror(errno));
    int go[2];
    if (pipe(go) != 0) fail("pipe");
    pid_t child = fork();
    if (child == 0) {
        char x;
        if (read(go[0], &x, 1) != 1) _exit(2);
        held(c, "the child's inherited counter");
        int fresh = open("/dev/null", O_RDONLY);
        if (fresh == c) fail("the child's next open took the counter's number %d", c);
        _exit(fixture_failures ? 1 : 0);
    }

    ready();
    wait_for_term();

    held(c, "the counter");
    held(copy, "its dup");
    int fresh = open("/dev/null", O_RDONLY);
    if (fresh == c || fresh == copy) fail("the next open took number %d of the counter", fresh);
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 1000);
    if (n != 1 || out[0].data.u32 != 7) fail("epoll_wait: %d events, the first %u (want the eventfd's 7 alone)", n, n > 0 ? out[0].data.u32 : 0);
    if (write(go[1], "g", 1) != 1) fail("the child's pipe");
    int status = 0;
    if (wait(&status) <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the child found its inherited number free (status %x)", status);
    return finish();
}
