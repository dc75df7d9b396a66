/* Process attributes that only the process can ask about: transparent huge
 * pages disabled (prctl PR_SET_THP_DISABLE), oom_score_adj raised to 345,
 * and a timer slack per thread (123456 ns in the main thread, 654321 ns in
 * a second one), PR_SET_KEEPCAPS on, and as root an audit login uid.
 * After restart all of them are as they were. */
#include "fixture.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/prctl.h>

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
    pthread_t t;
    pthread_create(&t, NULL, second, NULL);
    ready();
    wait_for_term();
    check_now = 1;
    pthread_join(t, NULL);
    if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) != 1) fail("THP is no longer disabled");
    if (prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) != 123456) fail("main thread's timer slack is %d", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
    if (second_slack_ok != 1) fail("the second thread's timer slack changed");
    if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 1) fail("PR_SET_KEEPCAPS is off");
    if (oom_score_adj() != 345) fail("oom_score_adj is %d, not 345", oom_score_adj());
    if (login >= 0 && login_uid() != login) fail("the login uid is %ld, not %ld", login_uid(), login);
    return finish();
}
