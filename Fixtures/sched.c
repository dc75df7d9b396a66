/* Scheduling per thread: `sched rt|plain`. The main thread runs at nice 7
 * under SCHED_BATCH with SCHED_RESET_ON_FORK, on the last CPU online alone
 * (taskset) and in the idle I/O class; a second thread under SCHED_RR
 * priority 3 (rt, root) or SCHED_IDLE (plain, any user), on every CPU, with
 * best-effort I/O level 5. After restart each thread has exactly its
 * policy, flag, priority, nice, CPUs and I/O priority. */
#include "fixture.h"
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

static int rt;
static volatile int check_now, second_ok = -1;
static char second_why[128];

static int policy_of_self(void) { return sched_getscheduler(0); }

#define IO_IDLE (3 << 13)
#define IO_BEST_EFFORT_5 ((2 << 13) | 5)
static int io_priority(void) { return (int)syscall(SYS_ioprio_get, 1, (int)syscall(SYS_gettid)); }
static int set_io_priority(int value) { return (int)syscall(SYS_ioprio_set, 1, (int)syscall(SYS_gettid), value); }
static int online_cpus;

static void *second(void *arg) {
    leave_term_to_main();
    (void)arg;
    struct sched_param p = { .sched_priority = rt ? 3 : 0 };
    if (sched_setscheduler(0, rt ? SCHED_RR : SCHED_IDLE, &p) != 0) { perror("second: sched_setscheduler"); exit(2); }
    if (set_io_priority(IO_BEST_EFFORT_5) != 0) { perror("second: ioprio_set"); exit(2); }
    while (!check_now) usleep(1000);
    struct sched_param now;
    int policy = policy_of_self();
    sched_getparam(0, &now);
    cpu_set_t cpus;
    sched_getaffinity(0, sizeof cpus, &cpus);
    second_ok = policy == (rt ? SCHED_RR : SCHED_IDLE) && now.sched_priority == p.sched_priority
        && io_priority() == IO_BEST_EFFORT_5 && CPU_COUNT(&cpus) == online_cpus;
    snprintf(second_why, sizeof second_why, "policy %d priority %d, I/O priority 0x%x, %d CPUs of %d", policy, now.sched_priority,
             io_priority(), CPU_COUNT(&cpus), online_cpus);
    return NULL;
}

int main(int argc, char **argv) {
    rt = argc > 1 && strcmp(argv[1], "rt") == 0;
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 7) != 0) { perror("setpriority"); return 2; }
    struct sched_param p = { .sched_priority = 0 };
    if (sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &p) != 0) { perror("sched_setscheduler"); return 2; }
    cpu_set_t all;
    sched_getaffinity(0, sizeof all, &all);
    online_cpus = CPU_COUNT(&all);
    pthread_t t;
    pthread_create(&t, NULL, second, NULL);
    /* The main thread alone on the last CPU it may use (after the second thread took every one). */
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; c++) if (CPU_ISSET(c, &all)) last = c;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(last, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) { perror("sched_setaffinity"); return 2; }
    if (set_io_priority(IO_IDLE) != 0) { perror("ioprio_set"); return 2; }
    ready();
    wait_for_term();
    check_now = 1;
    pthread_join(t, NULL);
    int policy = policy_of_self();
    if (policy != (SCHED_BATCH | SCHED_RESET_ON_FORK)) fail("main thread policy is 0x%x", policy);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    if (nice != 7) fail("main thread nice is %d, not 7", nice);
    if (second_ok != 1) fail("second thread: %s", second_why);
    cpu_set_t now;
    sched_getaffinity(0, sizeof now, &now);
    if (CPU_COUNT(&now) != 1 || !CPU_ISSET(last, &now)) fail("main thread: %d CPUs, want CPU %d alone", CPU_COUNT(&now), last);
    if (io_priority() != IO_IDLE) fail("main thread: I/O priority 0x%x, want the idle class (0x%x)", io_priority(), IO_IDLE);
    return finish();
}
