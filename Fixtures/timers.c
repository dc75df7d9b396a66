/* Interval timers (alarm, virtual, profiling) and POSIX timers come back
 * with their IDs, clocks, notification and remaining time, and keep firing:
 * a process-directed timer with a value, a SIGEV_NONE timer, one signalling
 * a particular thread, and a gap in the IDs left by a deleted timer. */
#include "fixture.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t ticks, bad_value, last_id;
static volatile int thread_ticks;
static pid_t worker_tid;

static void on_tick(int sig, siginfo_t *si, void *ctx) {
    (void)sig; (void)ctx;
    if (si->si_value.sival_int != 777) bad_value = si->si_value.sival_int;
    last_id = si->si_timerid;
    ticks++;
}

static void *worker(void *arg) {
    (void)arg;
    worker_tid = (pid_t)syscall(SYS_gettid);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN + 2);
    for (;;) {
        siginfo_t si;
        if (sigwaitinfo(&s, &si) == SIGRTMIN + 2) __atomic_add_fetch(&thread_ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static timer_t make(clockid_t clock, int notify, int sig, int value, pid_t tid) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = notify;
    ev.sigev_signo = sig;
    ev.sigev_value.sival_int = value;
    if (notify == SIGEV_THREAD_ID) ev._sigev_un._tid = tid;
    timer_t t;
    if (timer_create(clock, &ev, &t) != 0) { fail("timer_create: %s", strerror(errno)); exit(1); }
    return t;
}

static void arm(timer_t t, long vs, long vns, long is, long ins) {
    struct itimerspec its = { .it_interval = { is, ins }, .it_value = { vs, vns } };
    if (timer_settime(t, 0, &its, NULL) != 0) fail("timer_settime: %s", strerror(errno));
}

static void expect_timer(const char *name, timer_t t, long max_s, long is, long ins) {
    struct itimerspec now;
    if (timer_gettime(t, &now) != 0) { fail("%s: timer_gettime: %s (ID lost)", name, strerror(errno)); return; }
    if (now.it_interval.tv_sec != is || now.it_interval.tv_nsec != ins)
        fail("%s: interval %ld.%09ld", name, (long)now.it_interval.tv_sec, now.it_interval.tv_nsec);
    if (now.it_value.tv_sec > max_s || (now.it_value.tv_sec == 0 && now.it_value.tv_nsec == 0))
        fail("%s: %ld s left, want (0, %ld]", name, (long)now.it_value.tv_sec, max_s);
}

static void expect_itimer(const char *name, int which, long max_s, long is, long ius) {
    struct itimerval v;
    getitimer(which, &v);
    if (v.it_interval.tv_sec != is || v.it_interval.tv_usec != ius)
        fail("%s: interval %ld.%06ld", name, (long)v.it_interval.tv_sec, (long)v.it_interval.tv_usec);
    if (v.it_value.tv_sec > max_s || (v.it_value.tv_sec == 0 && v.it_value.tv_usec == 0))
        fail("%s: %ld s left, want (0, %ld]", name, (long)v.it_value.tv_sec, max_s);
}

int main(void) {
    sigset_t rt2;
    sigemptyset(&rt2);
    sigaddset(&rt2, SIGRTMIN + 2);
    pthread_sigmask(SIG_BLOCK, &rt2, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_tick;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMIN + 1, &sa, NULL);
    pthread_t th;
    pthread_create(&th, NULL, worker, NULL);
    while (!__atomic_load_n(&worker_tid, __ATOMIC_SEQ_CST)) usleep(1000);

    alarm(300);
    struct itimerval virt = { .it_interval = { 0, 500000 }, .it_value = { 100, 0 } };
    setitimer(ITIMER_VIRTUAL, &virt, NULL);
    struct itimerval prof = { .it_interval = { 0, 0 }, .it_value = { 200, 0 } };
    setitimer(ITIMER_PROF, &prof, NULL);

    timer_t slow = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 4321, 0);
    timer_t gone = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
    timer_t silent = make(CLOCK_REALTIME, SIGEV_NONE, 0, 0, 0);
    timer_t tick = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 1, 777, 0);
    timer_t to_thread = make(CLOCK_BOOTTIME, SIGEV_THREAD_ID, SIGRTMIN + 2, 5, worker_tid);
    timer_delete(gone);
    arm(slow, 600, 0, 0, 250000000);
    arm(silent, 500, 0, 0, 0);
    arm(tick, 0, 50000000, 0, 50000000);
    arm(to_thread, 0, 50000000, 0, 50000000);

    ready();
    wait_for_term();

    expect_itimer("alarm", ITIMER_REAL, 300, 0, 0);
    expect_itimer("ITIMER_VIRTUAL", ITIMER_VIRTUAL, 100, 0, 500000);
    expect_itimer("ITIMER_PROF", ITIMER_PROF, 200, 0, 0);
    expect_timer("SIGRTMIN timer", slow, 600, 0, 250000000);
    expect_timer("SIGEV_NONE timer", silent, 500, 0, 0);
    struct itimerspec dummy;
    if (timer_gettime(gone, &dummy) == 0) fail("the deleted timer's ID exists again");

    int before = ticks, thread_before = __atomic_load_n(&thread_ticks, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 200 && (ticks < before + 3 || __atomic_load_n(&thread_ticks, __ATOMIC_SEQ_CST) < thread_before + 3); i++) usleep(10000);
    if (ticks < before + 3) fail("the 50 ms timer fired %d times in 2 s after restart", ticks - before);
    if (bad_value) fail("timer signal carried value %d, want 777", (int)bad_value);
    if (last_id != (int)(long)tick) fail("timer signal names timer %d, want %d", (int)last_id, (int)(long)tick);
    if (__atomic_load_n(&thread_ticks, __ATOMIC_SEQ_CST) < thread_before + 3) fail("the thread-directed timer stopped reaching its thread");
    return finish();
}
