/* Threads that share one seccomp filter share it again after restart: a
 * later filter installed with SECCOMP_FILTER_FLAG_TSYNC must reach every
 * thread (the kernel refuses TSYNC when a thread holds a separate copy, and
 * a program waiting on that thread then hangs). Root only (reading filters
 * needs CAP_SYS_ADMIN). */
#include "fixture.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

static pthread_mutex_t go = PTHREAD_MUTEX_INITIALIZER;

static long deny(int nr, int err, unsigned flags) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = 4, .filter = f };
    return syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static void *worker(void *arg) {
    leave_term_to_main();
    (void)arg;
    pthread_mutex_lock(&go);  /* held by main until after restart */
    pthread_mutex_unlock(&go);
    errno = 0;
    if (getpriority(PRIO_PROCESS, 0) != -1 || errno != 77) return (void *)1;   /* inherited filter */
    errno = 0;
    if (syscall(__NR_getppid) != -1 || errno != 78) return (void *)2;         /* synced one */
    return NULL;
}

int main(void) {
    if (geteuid() != 0) { fprintf(stderr, "needs root\n"); return 2; }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || deny(__NR_getpriority, 77, 0) != 0) { perror("seccomp"); return 2; }
    pthread_mutex_lock(&go);
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) { perror("pthread_create"); return 2; }
    ready();
    wait_for_term();
    long r = deny(__NR_getppid, 78, SECCOMP_FILTER_FLAG_TSYNC);
    if (r != 0) fail("TSYNC filter refused: %ld (a positive value is the thread holding a separate copy)", r);
    pthread_mutex_unlock(&go);
    void *why = NULL;
    pthread_join(t, &why);
    if (why == (void *)1) fail("the thread lost its inherited filter");
    if (why == (void *)2 && r == 0) fail("the TSYNC filter did not reach the thread");
    return finish();
}
