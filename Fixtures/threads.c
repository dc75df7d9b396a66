/* Threads: 8 threads, each with its own TLS, stack and FPU values kept in
 * registers while it spins; one blocked in pthread_cond_wait; one with a
 * thread-directed pending signal; one with its own sigaltstack. Main holds
 * an error-checking and a recursive mutex across the checkpoint (only with
 * exact TIDs: an owner recorded under an old TID cannot match a new one),
 * then pthread_kill and raise must reach the right threads.
 * Usage: threads [exact|newtid] */
#include "fixture.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#define N 8
static __thread int tls_value;
static __thread volatile pid_t handled_in;
static __thread int my_index = -1;  /* TLS survives the restart; TIDs may not */
static pthread_t workers[N];
static pid_t worker_tid[N];
static atomic_int started;
static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int go;
static char altstack2[65536];
static volatile pid_t usr1_seen[N], usr2_seen[N];
static atomic_int kill_done;
static pthread_mutex_t robust;      /* held by thread 4 when it exits after the restart */
static atomic_int robust_held;

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

static void on_usr1(int s) { (void)s; if (my_index >= 0) usr1_seen[my_index] = tid(); }
static void on_usr2(int s) { (void)s; if (my_index >= 0) usr2_seen[my_index] = tid(); handled_in = tid(); }

static void *worker(void *arg) {
    int i = (int)(long)arg;
    long failures = 0;
    tls_value = 1000 + i;
    my_index = i;
    worker_tid[i] = tid();
    char local[4096];
    for (int k = 0; k < (int)sizeof local; k++) local[k] = (char)(i * 31 + k);
    if (i == 1) {  /* a signal sent to this thread stays pending on it */
        sigset_t s; sigemptyset(&s); sigaddset(&s, SIGUSR2);
        pthread_sigmask(SIG_BLOCK, &s, NULL);
    }
    if (i == 2) {
        stack_t ss = { .ss_sp = altstack2, .ss_size = sizeof altstack2 };
        sigaltstack(&ss, NULL);
    }
    atomic_fetch_add(&started, 1);
    if (i == 0) {
        pthread_mutex_lock(&cond_lock);
        while (!go) pthread_cond_wait(&cond, &cond_lock);
        pthread_mutex_unlock(&cond_lock);
    } else {
        double x = i;
        unsigned long n = 0;
        while (!fixture_stop) { x = x * 0.999999 + 1.0; n++; }
        double y = i;
        for (unsigned long k = 0; k < n; k++) y = y * 0.999999 + 1.0;
        if (x != y) { fail("thread %d: FPU state differs after %lu steps", i, n); failures++; }
    }
    if (tls_value != 1000 + i) { fail("thread %d: TLS %d", i, tls_value); failures++; }
    for (int k = 0; k < (int)sizeof local; k++)
        if (local[k] != (char)(i * 31 + k)) { fail("thread %d: stack byte %d", i, k); failures++; break; }
    if (worker_tid[i] != tid()) { worker_tid[i] = tid(); }  /* new TIDs after --no-restore-pid */
    if (i == 1) {
        sigset_t p; sigpending(&p);
        if (!sigismember(&p, SIGUSR2)) { fail("thread 1 lost its pending SIGUSR2"); failures++; }
        sigset_t s; sigemptyset(&s); sigaddset(&s, SIGUSR2);
        pthread_sigmask(SIG_UNBLOCK, &s, NULL);
        if (handled_in != tid()) { fail("thread 1's SIGUSR2 ran in %d, not %d", handled_in, tid()); failures++; }
    }
    if (i == 4) {  /* dies holding a robust mutex: the kernel walks its restored robust list */
        pthread_mutex_lock(&robust);
        atomic_store(&robust_held, 1);
        return (void *)failures;
    }
    if (i == 3) {  /* main pthread_kill()s this thread after the restart: glibc uses the cached TID */
        while (!atomic_load(&kill_done)) usleep(1000);
        if (usr1_seen[3] != tid()) { fail("pthread_kill after restart reached %d, not thread 3 (%d)", usr1_seen[3], tid()); failures++; }
    }
    if (i == 2) {
        stack_t cur; sigaltstack(NULL, &cur);
        if (cur.ss_sp != altstack2 || (cur.ss_flags & SS_DISABLE)) { fail("thread 2 sigaltstack"); failures++; }
    }
    return (void *)failures;
}

int main(int argc, char **argv) {
    int exact = !(argc > 1 && strcmp(argv[1], "newtid") == 0);
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, on_usr2);
    pthread_mutexattr_t a;
    pthread_mutex_t errorcheck, recursive;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&errorcheck, &a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&recursive, &a);
    pthread_mutexattr_t r;
    pthread_mutexattr_init(&r);
    pthread_mutexattr_setrobust(&r, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &r);
    if (exact) {
        pthread_mutex_lock(&errorcheck);
        pthread_mutex_lock(&recursive);
        pthread_mutex_lock(&recursive);
    }
    /* SIGTERM is for main alone (it waits in sigsuspend); workers inherit the block. */
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, NULL);
    for (long i = 0; i < N; i++) pthread_create(&workers[i], NULL, worker, (void *)i);
    while (atomic_load(&started) < N) usleep(1000);
    pthread_kill(workers[1], SIGUSR2);
    usleep(20000);
    ready();
    wait_for_term();

    if (pthread_kill(workers[3], SIGUSR1) != 0) fail("pthread_kill after restart failed");
    usleep(50000);
    atomic_store(&kill_done, 1);
    pthread_mutex_lock(&cond_lock);
    go = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&cond_lock);
    long total = 0;
    for (int i = 0; i < N; i++) { void *r; pthread_join(workers[i], &r); total += (long)r; }
    if (!atomic_load(&robust_held)) fail("thread 4 never took the robust mutex");
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    int rc = pthread_mutex_timedlock(&robust, &until);
    if (rc != EOWNERDEAD) fail("robust mutex of a thread that died after restart: %s (want EOWNERDEAD)", strerror(rc));
    if (exact) {
        if (pthread_mutex_unlock(&errorcheck) != 0) fail("error-checking mutex held across the checkpoint");
        if (pthread_mutex_unlock(&recursive) != 0 || pthread_mutex_unlock(&recursive) != 0) fail("recursive mutex held across the checkpoint");
    }
    /* mutexes taken after the restart rely on the rewritten TID cache */
    if (pthread_mutex_lock(&errorcheck) != 0 || pthread_mutex_lock(&errorcheck) != EDEADLK || pthread_mutex_unlock(&errorcheck) != 0)
        fail("error-checking mutex after restart");
    handled_in = 0;
    raise(SIGUSR2);
    if (handled_in != tid()) fail("raise() after restart ran in %d, not %d", handled_in, tid());
    (void)total;
    return finish();
}
