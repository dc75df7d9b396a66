/* A periodic ITIMER_REAL that expired while SIGALRM was blocked. The kernel
 * re-arms a periodic alarm only when its signal is taken, so until then
 * getitimer reads a zero value with the interval kept, and a checkpoint that
 * freezes a process at its alarm's expiry sees the same. A restart that set
 * the timer with that zero value would drop the interval (the kernel clears
 * it with the value): the pending SIGALRM would come once and no other.
 * After the restart: the same zero value and interval, and once SIGALRM is
 * unblocked, the pending one and then one every 20 ms. */
#include "fixture.h"
#include <sys/time.h>

static volatile sig_atomic_t ticks;

static void on_alarm(int sig) { (void)sig; ticks++; }

static void expect_expired(const char *when) {
    struct itimerval now;
    getitimer(ITIMER_REAL, &now);
    if (now.it_value.tv_sec != 0 || now.it_value.tv_usec != 0 || now.it_interval.tv_sec != 0 || now.it_interval.tv_usec != 20000)
        fail("%s: ITIMER_REAL %ld.%06ld left, interval %ld.%06ld; want 0 and 0.020000", when, (long)now.it_value.tv_sec,
             (long)now.it_value.tv_usec, (long)now.it_interval.tv_sec, (long)now.it_interval.tv_usec);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    sigset_t alarm_only;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    sigprocmask(SIG_BLOCK, &alarm_only, NULL);
    struct itimerval it = { .it_interval = { 0, 20000 }, .it_value = { 0, 1000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    usleep(30000);
    expect_expired("before the checkpoint");

    ready();
    wait_for_term();

    expect_expired("after the restart");
    sigprocmask(SIG_UNBLOCK, &alarm_only, NULL);
    for (int i = 0; i < 200 && ticks < 4; i++) usleep(10000);
    if (ticks < 4) fail("the 20 ms alarm fired %d times in 2 s after SIGALRM was unblocked", (int)ticks);
    return finish();
}
