/* Process environment: umask, cwd, a lowered rlimit, comm, pdeathsig (the
 * main thread's and another thread's own: it is per thread), no_new_privs,
 * and the PID (same with --restore-pid; raise() works either
 * way). With "seccomp" it also installs two seccomp filters, one making
 * getpriority fail with errno 77 and one making setpriority fail with 78,
 * and checks after restart that both still hold.
 * Usage: environment DIR [same-pid] [seccomp] */
#include "fixture.h"
#include <limits.h>
#include <pthread.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

static volatile int usr1;
static void on_usr1(int s) { (void)s; usr1++; }

/* The second thread sets its own parent-death signal, waits out the
 * checkpoint at the barrier and reads it again after the restart. */
static pthread_barrier_t meet;
static int thread_pdeath = -1;
static void *second_thread(void *arg) {
    (void)arg;
    leave_term_to_main();
    prctl(PR_SET_PDEATHSIG, SIGPWR);
    pthread_barrier_wait(&meet);
    pthread_barrier_wait(&meet);
    prctl(PR_GET_PDEATHSIG, &thread_pdeath);
    return NULL;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int same_pid = argc > 2 && strcmp(argv[2], "same-pid") == 0;
    umask(027);
    if (chdir(dir) != 0) { fail("chdir"); return finish(); }
    struct rlimit rl = { .rlim_cur = 200, .rlim_max = 4000 };
    setrlimit(RLIMIT_NOFILE, &rl);
    prctl(PR_SET_NAME, "envfixture");
    prctl(PR_SET_PDEATHSIG, SIGWINCH);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs: %s", strerror(errno));
    int filtered = 0;
    for (int k = 2; k < argc; k++) filtered |= strcmp(argv[k], "seccomp") == 0;
    for (int k = 0; filtered && k < 2; k++) {
        struct sock_filter deny[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k == 0 ? __NR_getpriority : __NR_setpriority, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (77 + k)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = 4, .filter = deny };
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) fail("seccomp: %s", strerror(errno));
    }
    signal(SIGUSR1, on_usr1);
    pid_t before = getpid();
    pthread_t second;
    pthread_barrier_init(&meet, NULL, 2);
    if (pthread_create(&second, NULL, second_thread, NULL) != 0) fail("pthread_create");
    pthread_barrier_wait(&meet);

    ready();
    wait_for_term();

    mode_t old = umask(0);
    if (old != 027) fail("umask %o", old);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) || strcmp(cwd, dir) != 0) fail("cwd '%s'", cwd);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != 200 || rl.rlim_max != 4000) fail("RLIMIT_NOFILE %lu/%lu", (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
    char name[17] = {0};
    prctl(PR_GET_NAME, name);
    if (strcmp(name, "envfixture") != 0) fail("comm '%s'", name);
    int pdeath = 0;
    prctl(PR_GET_PDEATHSIG, &pdeath);
    if (pdeath != SIGWINCH) fail("pdeathsig %d", pdeath);
    pthread_barrier_wait(&meet);
    pthread_join(second, NULL);
    if (thread_pdeath != SIGPWR) fail("second thread's pdeathsig %d, want %d", thread_pdeath, SIGPWR);
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) fail("no_new_privs lost");
    if (filtered) {
        errno = 0;
        if (getpriority(PRIO_PROCESS, 0) != -1 || errno != 77) fail("seccomp filter 1 lost: getpriority errno %d", errno);
        if (setpriority(PRIO_PROCESS, 0, 0) != -1 || errno != 78) fail("seccomp filter 2 lost: setpriority errno %d", errno);
    }
    if (same_pid && getpid() != before) fail("pid %d, was %d", getpid(), before);
    /* /proc shows this process's own PID namespace: /proc/self and /proc/<getpid()> are this process. */
    char self[32] = {0}, mine[64];
    if (readlink("/proc/self", self, sizeof self - 1) < 0 || atoi(self) != getpid()) fail("/proc/self is '%s', getpid() %d", self, getpid());
    snprintf(mine, sizeof mine, "/proc/%d/comm", getpid());
    FILE *comm = fopen(mine, "r");
    char cname[32] = {0};
    if (!comm || !fgets(cname, sizeof cname, comm) || strcmp(cname, "envfixture\n") != 0) fail("%s is '%s', not this process", mine, cname);
    if (comm) fclose(comm);
    raise(SIGUSR1);
    if (usr1 != 1) fail("raise() after restart");
    return finish();
}
