/* eventfd (semaphore, count 5), signalfd (SIGUSR1, with one pending), an
 * armed periodic timerfd (and one that fired unread), an absolute wall-clock
 * timerfd with TFD_TIMER_CANCEL_ON_SET, and an epoll set watching the eventfd and a pipe,
 * come back with their state. */
#include "fixture.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

int main(void) {
    int efd = eventfd(5, EFD_SEMAPHORE | EFD_NONBLOCK);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    int sfd = signalfd(-1, &usr1, SFD_NONBLOCK);
    raise(SIGUSR1);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = { .it_interval = { 0, 50 * 1000 * 1000 }, .it_value = { 600, 0 } };
    timerfd_settime(tfd, 0, &its, NULL);
    /* A periodic timer that has fired and not been read: the kernel shows no
     * time left until the read, yet it is still periodic. */
    int fired = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec soon = { .it_interval = { 30, 0 }, .it_value = { 0, 1000 } };
    timerfd_settime(fired, 0, &soon, NULL);
    usleep(20000);
    /* A wall-clock alarm an hour ahead that learns of clock changes, as cron-like
     * daemons arm one: TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET. */
    int wall = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    struct itimerspec hour = { .it_interval = { 0, 0 }, .it_value = { t0.tv_sec + 3600, t0.tv_nsec } };
    if (timerfd_settime(wall, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &hour, NULL) != 0) fail("timerfd_settime(abstime): %s", strerror(errno));

    int p[2];
    if (pipe(p) != 0 || write(p[1], "x", 1) != 1) fail("pipe");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1111222233334444ULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    ev.data.u64 = 0x5555;
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);

    ready();
    wait_for_term();

    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 1000);
    int saw_efd = 0, saw_pipe = 0;
    for (int i = 0; i < n; i++) {
        if (out[i].data.u64 == 0x1111222233334444ULL) saw_efd = 1;
        if (out[i].data.u64 == 0x5555) saw_pipe = 1;
    }
    if (!saw_efd || !saw_pipe) fail("epoll_wait after restart: %d events (eventfd %d, pipe %d)", n, saw_efd, saw_pipe);
    if (!(fcntl(ep, F_GETFD) & FD_CLOEXEC)) fail("epoll fd lost FD_CLOEXEC");

    uint64_t v = 0;
    int got = 0;
    while (read(efd, &v, 8) == 8) { if (v != 1) fail("semaphore eventfd read %lu", (unsigned long)v); got++; }
    if (got != 5) fail("eventfd gave %d semaphore reads, want 5", got);
    if (!(fcntl(efd, F_GETFL) & O_NONBLOCK)) fail("eventfd lost O_NONBLOCK");
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof si) != sizeof si || si.ssi_signo != SIGUSR1) fail("signalfd did not deliver the pending SIGUSR1");
    struct itimerspec now;
    if (timerfd_gettime(tfd, &now) != 0) fail("timerfd_gettime");
    else {
        if (now.it_interval.tv_sec != 0 || now.it_interval.tv_nsec != 50 * 1000 * 1000) fail("timerfd interval %ld.%09ld", (long)now.it_interval.tv_sec, now.it_interval.tv_nsec);
        if (now.it_value.tv_sec > 600 || (now.it_value.tv_sec == 0 && now.it_value.tv_nsec == 0)) fail("timerfd not armed: %ld s left", (long)now.it_value.tv_sec);
    }
    if (timerfd_gettime(wall, &now) != 0 || now.it_value.tv_sec > 3600 || now.it_value.tv_sec < 3000)
        fail("the wall-clock timerfd has %ld s left, not about an hour", (long)now.it_value.tv_sec);
    char info[64], text[512] = {0};
    snprintf(info, sizeof info, "/proc/self/fdinfo/%d", wall);
    FILE *fi = fopen(info, "r");
    if (fi) { size_t n = fread(text, 1, sizeof text - 1, fi); text[n] = 0; fclose(fi); }
    if (!strstr(text, "settime flags: 03")) fail("the wall-clock timerfd lost TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET: %s", text);
    uint64_t ticks = 0;
    if (read(fired, &ticks, 8) != 8 || ticks < 1) fail("the fired timerfd lost its unread expiration");
    if (timerfd_gettime(fired, &now) != 0 || now.it_interval.tv_sec != 30 || (now.it_value.tv_sec == 0 && now.it_value.tv_nsec == 0))
        fail("the fired periodic timerfd is no longer armed (interval %ld s, %ld s left)", (long)now.it_interval.tv_sec, (long)now.it_value.tv_sec);
    return finish();
}
