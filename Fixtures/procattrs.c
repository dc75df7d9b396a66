/* Process attributes that only the process can ask about: transparent huge
 * pages disabled (prctl PR_SET_THP_DISABLE), oom_score_adj raised to 345,
 * and a timer slack per thread (123456 ns in the main thread, 654321 ns in
 * a second one), PR_SET_KEEPCAPS on, and as root an audit login uid; the
 * core dump filter 0x7b; memory-deny-write-execute (PR_SET_MDWE, where the
 * kernel has it), which must also still refuse a writable executable mapping.
 * After restart all of them are as they were. */
#include "fixture.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#define MDWE_SET 65   /* PR_SET_MDWE, PR_GET_MDWE (Linux 6.3+) */
#define MDWE_GET 66

static volatile int second_slack_ok = -1;
static volatile int check_now;

static void *second(void *arg) {
    leave_term_to_main();
    (void)arg;
    prctl(PR_SET_TIMERSLACK, 654321UL, 0, 0, 0);
    while (!check_now) usleep(1000);
    second_slack_ok = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) == 654321;
    return NULL;
}

static int oom_score_adj(void) {
    char buf[32] = {0};
    int fd = open("/proc/self/oom_score_adj", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0) return -9999;
    close(fd);
    return atoi(buf);
}

static long coredump_filter(void) {
    char buf[32] = {0};
    int fd = open("/proc/self/coredump_filter", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0) return -1;
    close(fd);
    return strtol(buf, NULL, 16);
}

static long login_uid(void) {
    char buf[32] = {0};
    int fd = open("/proc/self/loginuid", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0) return -2;
    close(fd);
    return atol(buf);
}

int main(void) {
    if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) { perror("PR_SET_THP_DISABLE"); return 2; }
    prctl(PR_SET_TIMERSLACK, 123456UL, 0, 0, 0);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) { perror("PR_SET_KEEPCAPS"); return 2; }
    int fd = open("/proc/self/oom_score_adj", O_WRONLY);
    if (fd < 0 || write(fd, "345", 3) != 3) { perror("oom_score_adj"); return 2; }
    close(fd);
    /* As root, an audit login uid (zdtm loginuid); a user cannot set one. */
    long login = -1;
    if (geteuid() == 0) {
        fd = open("/proc/self/loginuid", O_WRONLY);
        if (fd >= 0 && write(fd, "4242", 4) == 4) login = 4242;
        if (fd >= 0) close(fd);
    }
    fd = open("/proc/self/coredump_filter", O_WRONLY);
    if (fd < 0 || write(fd, "0x7b", 4) != 4) { perror("coredump_filter"); return 2; }
    close(fd);
    pthread_t t;
    pthread_create(&t, NULL, second, NULL);
    int mdwe = prctl(MDWE_SET, 1, 0, 0, 0) == 0;
    ready();
    wait_for_term();
    check_now = 1;
    pthread_join(t, NULL);
    if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) != 1) fail("THP is no longer disabled");
    if (prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) != 123456) fail("main thread's timer slack is %d", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
    if (second_slack_ok != 1) fail("the second thread's timer slack changed");
    if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 1) fail("PR_SET_KEEPCAPS is off");
    if (oom_score_adj() != 345) fail("oom_score_adj is %d, not 345", oom_score_adj());
    if (coredump_filter() != 0x7b) fail("the core dump filter is 0x%lx, not 0x7b", coredump_filter());
    if (mdwe) {
        if (prctl(MDWE_GET, 0, 0, 0, 0) != 1) fail("memory-deny-write-execute is %d, not 1", prctl(MDWE_GET, 0, 0, 0, 0));
        void *wx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (wx != MAP_FAILED) fail("a writable executable mapping was allowed after the restart");
    }
    if (login >= 0 && login_uid() != login) fail("the login uid is %ld, not %ld", login_uid(), login);
    return finish();
}
