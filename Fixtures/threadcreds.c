/* Credentials are per thread. As root: a child process has a thread that
 * switched to its own IDs with the raw system calls (only that thread);
 * this process makes a thread, then drops every thread to uid/gid 4000
 * with glibc's setresuid (all threads). After restart each thread reports
 * the IDs it had: the child's thread its own, its main thread root, and
 * no thread of this process root again.
 * Usage: threadcreds */
#include "fixture.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile int go;
static int answer[2];

static uid_t raw_euid(void) { uid_t r, e, s; syscall(SYS_getresuid, &r, &e, &s); return e; }
static gid_t raw_egid(void) { gid_t r, e, s; syscall(SYS_getresgid, &r, &e, &s); return e; }

static void *own_ids(void *arg) {
    (void)arg;
    syscall(SYS_setresgid, 4321, 4321, 4321);
    syscall(SYS_setresuid, 4321, 4321, 4321);
    while (!go) usleep(10000);
    char ok = raw_euid() == 4321 && raw_egid() == 4321 ? 'y' : 'n';
    write(answer[1], &ok, 1);
    return NULL;
}

static void *plain(void *arg) {
    (void)arg;
    leave_term_to_main();
    while (!go) usleep(10000);
    char ok = raw_euid() == 4000 && raw_egid() == 4000 ? 'y' : 'n';
    write(answer[1], &ok, 1);
    return NULL;
}

int main(void) {
    if (geteuid() != 0) { printf("not root: nothing to check\n"); ready(); wait_for_term(); return finish(); }
    handle_term();
    int child_pipe[2];
    if (pipe(answer) != 0 || pipe(child_pipe) != 0) { fail("pipe"); return finish(); }
    pid_t child = fork();
    if (child == 0) {
        pthread_t t;
        pthread_create(&t, NULL, own_ids, NULL);
        char x;
        if (read(child_pipe[0], &x, 1) != 1) _exit(2);
        go = 1;
        pthread_join(t, NULL);
        _exit(raw_euid() == 0 ? 0 : 1);  /* the main thread kept root */
    }
    pthread_t t;
    pthread_create(&t, NULL, plain, NULL);
    usleep(50000);
    if (setresgid(4000, 4000, 4000) != 0 || setresuid(4000, 4000, 4000) != 0) fail("setresuid");

    ready();
    wait_for_term();

    go = 1;
    pthread_join(t, NULL);
    char ok = 0;
    if (read(answer[0], &ok, 1) != 1 || ok != 'y') fail("a thread of this process does not have uid/gid 4000 after restart");
    if (raw_euid() != 4000) fail("the main thread's uid is %d", raw_euid());
    if (write(child_pipe[1], "g", 1) != 1) fail("the child's pipe");  /* uid 4000 may not signal it */
    int status = 0;
    if (wait(&status) <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the child's main thread is not root after restart (status %x)", status);
    if (read(answer[0], &ok, 1) != 1 || ok != 'y') fail("the child's thread lost its own IDs");
    return finish();
}
