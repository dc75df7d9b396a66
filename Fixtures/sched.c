/* Scheduling per thread: `sched rt|plain [deadline SEED]`. The main thread
 * runs at nice 7 under SCHED_BATCH with SCHED_RESET_ON_FORK, on the last CPU
 * online alone (taskset) and in the idle I/O class; a second thread under
 * SCHED_RR priority 3 (rt, root) or SCHED_IDLE (plain, any user), on every
 * CPU, with best-effort I/O level 5. With `deadline` (root) a third thread
 * runs under SCHED_DEADLINE with a seeded reservation (runtime, deadline,
 * period) and seeded flags (reset-on-fork, reclaim, overrun signal). After
 * restart each thread has exactly its policy, flags, priority, nice,
 * reservation, CPUs and I/O priority. */
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

/* struct sched_attr (glibc 2.36 has no wrapper). */
struct attr { unsigned size, policy; unsigned long long flags; int nice; unsigned priority;
              unsigned long long runtime, deadline, period; };
#define SCHED_DEADLINE_POLICY 6
#define FLAG_RESET_ON_FORK 0x01ULL
#define FLAG_RECLAIM 0x02ULL
#define FLAG_DL_OVERRUN 0x04ULL
static struct attr wanted;
static volatile int third_ok = -1, third_set;
static char third_why[192];

static void *third(void *arg) {
    leave_term_to_main();
    (void)arg;
    struct attr set = wanted;
    set.size = sizeof set;
    if (syscall(SYS_sched_setattr, 0, &set, 0) != 0) { perror("third: sched_setattr SCHED_DEADLINE"); exit(2); }
    third_set = 1;
    while (!check_now) usleep(1000);
    struct attr now;
    memset(&now, 0, sizeof now);
    if (syscall(SYS_sched_getattr, 0, &now, sizeof now, 0) != 0) { snprintf(third_why, sizeof third_why, "sched_getattr: %m"); third_ok = 0; return NULL; }
    third_ok = now.policy == SCHED_DEADLINE_POLICY && now.flags == wanted.flags && now.runtime == wanted.runtime
        && now.deadline == wanted.deadline && now.period == wanted.period;
    snprintf(third_why, sizeof third_why, "policy %u flags 0x%llx runtime %llu deadline %llu period %llu, want %u 0x%llx %llu %llu %llu",
             now.policy, now.flags, now.runtime, now.deadline, now.period,
             SCHED_DEADLINE_POLICY, wanted.flags, wanted.runtime, wanted.deadline, wanted.period);
    return NULL;
}

/* A reservation of at most a tenth of one CPU (the kernel admits 95% of each). */
static void seed_reservation(unsigned long long seed) {
    unsigned long long r = seed_mix(seed);
    wanted.policy = SCHED_DEADLINE_POLICY;
    wanted.runtime = 100000 + r % 900000;                        /* 0.1-1 ms */
    wanted.period = wanted.runtime * 10 + seed_mix(r) % 50000000;   /* up to 60 ms */
    wanted.deadline = wanted.runtime + seed_mix(r + 1) % (wanted.period - wanted.runtime + 1);
    unsigned long long f = seed_mix(r + 2);
    wanted.flags = (f & 1 ? FLAG_RESET_ON_FORK : 0) | (f & 2 ? FLAG_RECLAIM : 0) | (f & 4 ? FLAG_DL_OVERRUN : 0);
}

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
    pthread_t t, t3;
    pthread_create(&t, NULL, second, NULL);
    int deadline = argc > 3 && strcmp(argv[2], "deadline") == 0;
    if (deadline) {
        seed_reservation(strtoull(argv[3], NULL, 10));
        printf("deadline: runtime %llu deadline %llu period %llu flags 0x%llx\n", wanted.runtime, wanted.deadline, wanted.period, wanted.flags);
        pthread_create(&t3, NULL, third, NULL);
        while (!third_set) usleep(1000);  /* ready only once it is a deadline thread */
    }
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
    if (deadline) {
        pthread_join(t3, NULL);
        if (third_ok != 1) fail("deadline thread: %s", third_why);
    }
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
