/* Scheduling per thread: `sched rt|plain`. The main thread runs at nice 7
 * under SCHED_BATCH with SCHED_RESET_ON_FORK; a second thread under SCHED_RR
 * priority 3 (rt, root) or SCHED_IDLE (plain, any user). After restart each
 * thread has exactly its policy, flag, priority and nice. */
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

static void *second(void *arg) {
    leave_term_to_main();
    (void)arg;
    struct sched_param p = { .sched_priority = rt ? 3 : 0 };
    if (sched_setscheduler(0, rt ? SCHED_RR : SCHED_IDLE, &p) != 0) { perror("second: sched_setscheduler"); exit(2); }
    while (!check_now) usleep(1000);
    struct sched_param now;
    int policy = policy_of_self();
    sched_getparam(0, &now);
    second_ok = policy == (rt ? SCHED_RR : SCHED_IDLE) && now.sched_priority == p.sched_priority;
    snprintf(second_why, sizeof second_why, "policy %d priority %d", policy, now.sched_priority);
    return NULL;
}

int main(int argc, char **argv) {
    rt = argc > 1 && strcmp(argv[1], "rt") == 0;
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 7) != 0) { perror("setpriority"); return 2; }
    struct sched_param p = { .sched_priority = 0 };
    if (sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &p) != 0) { perror("sched_setscheduler"); return 2; }
    pthread_t t;
    pthread_create(&t, NULL, second, NULL);
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
    return finish();
}
