/* Blocked in a system call at checkpoint time. Modes:
 *   pause - blocked in pause() until SIGTERM's handler runs (ERESTARTNOHAND).
 *   read  - blocked in read() on stdin (a pipe from outside: after restart it
 *           is cr_restart's stdin); expects the line "hello".
 *   sleep - blocked in nanosleep(); after restart the sleep is finished
 *           (EINTR with the remaining time, handled as programs do).
 *   poll  - blocked in poll() on stdin with no timeout, treating EINTR as
 *           fatal as tail -f does: the poll must go on waiting across the
 *           restart and then see "hello". */
#include "fixture.h"
#include <poll.h>
#include <time.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "read";
    ready();
    if (strcmp(mode, "pause") == 0) {
        while (!fixture_stop) pause();
    } else if (strcmp(mode, "read") == 0) {
        char buf[64] = {0};
        ssize_t n;
        do n = read(0, buf, sizeof buf - 1); while (n < 0 && errno == EINTR);
        if (n != 6 || strcmp(buf, "hello\n") != 0) fail("read returned %zd '%s' (errno %d)", n, buf, errno);
    } else if (strcmp(mode, "poll") == 0) {
        struct pollfd p = { .fd = 0, .events = POLLIN };
        int n = poll(&p, 1, -1);
        if (n != 1 || !(p.revents & POLLIN)) { fail("poll returned %d (errno %d: %s)", n, errno, strerror(errno)); return finish(); }
        char buf[64] = {0};
        if (read(0, buf, sizeof buf - 1) != 6 || strcmp(buf, "hello\n") != 0) fail("read after poll: '%s'", buf);
    } else {
        struct timespec req = { .tv_sec = 3, .tv_nsec = 0 }, rem, t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int interrupted = 0;
        while (nanosleep(&req, &rem) != 0) {
            if (errno != EINTR) { fail("nanosleep errno %d", errno); break; }
            if (rem.tv_sec > 3) fail("remaining time %ld s", (long)rem.tv_sec);
            interrupted++;
            req = rem;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec < 2) fail("slept only %ld s", (long)(t1.tv_sec - t0.tv_sec));
        printf("slept, interrupted %d times\n", interrupted);
    }
    return finish();
}
