/* pidfds and a pipe with no writer left. A child waiting for SIGTERM and
 * a pidfd of it; two pidfds of a child that has exited and been reaped;
 * a nonblocking pidfd of this process; a pipe holding bytes whose write
 * end is closed. After restart: SIGTERM through the pidfd ends the child
 * (wherever its PID is now), the gone child's pidfds still share an inode
 * and signal nobody (ESRCH), this process's pidfd is nonblocking and
 * signals it, and the pipe gives its bytes, then end of file.
 * A pidfd of one of its threads (PIDFD_THREAD, where the kernel has it)
 * and a dup of it: after restart both name that thread (fdinfo's Pid is
 * its TID) and PIDFD_SIGNAL_THREAD reaches it and no other.
 * With DIR: also a pidfd (and a dup of it, one open file) of a process
 * outside the tree, whose PID goes to DIR/outside; the test ends that
 * process before the restart, and both descriptors come back closed, their
 * numbers held by a stand-in (no later descriptor takes them).
 * Usage: pidfds [DIR] */
#include "fixture.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pthread.h>
#include <dirent.h>

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#define PIDFD_SIGNAL_THREAD 1
static volatile pid_t thread_tid, signalled_in;
static void on_usr1(int sig) { (void)sig; signalled_in = (pid_t)syscall(SYS_gettid); }
static void *thread_main(void *arg) {
    (void)arg;
    thread_tid = (pid_t)syscall(SYS_gettid);
    leave_term_to_main();
    for (;;) pause();
    return NULL;
}

/* The TID of our one other thread, as it is now (a restart without the old IDs gives it another). */
static pid_t other_thread(void) {
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    pid_t found = -1;
    while (d && (e = readdir(d)) != NULL) {
        pid_t t = (pid_t)atoi(e->d_name);
        if (t > 0 && t != getpid()) found = t;
    }
    if (d) closedir(d);
    return found;
}

/* The Pid line of a descriptor's fdinfo. */
static int fdinfo_pid(int fd) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    int pid = -1;
    while (f && fgets(line, sizeof line, f)) if (sscanf(line, "Pid: %d", &pid) == 1) break;
    if (f) fclose(f);
    return pid;
}

static int pidfd_open(pid_t pid, unsigned flags) { return (int)syscall(SYS_pidfd_open, pid, flags); }
static int pidfd_signal(int fd, int sig) { return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0); }

/* A process outside the checkpointed tree: a grandchild whose parent exits. */
static pid_t outside_process(const char *dir) {
    int p[2];
    if (pipe(p) != 0) return -1;
    if (fork() == 0) {
        pid_t g = fork();
        if (g == 0) { close(p[0]); close(p[1]); for (;;) pause(); }
        write(p[1], &g, sizeof g);
        _exit(0);
    }
    pid_t g = -1;
    if (read(p[0], &g, sizeof g) != sizeof g) g = -1;
    close(p[0]);
    close(p[1]);
    wait(NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s/outside", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "%d\n", g);
    fclose(f);
    return g;
}

int main(int argc, char **argv) {
    handle_term();
    int outside = -1, outside_dup = -1;
    if (argc > 1) {
        pid_t o = outside_process(argv[1]);
        outside = o > 0 ? pidfd_open(o, 0) : -1;
        outside_dup = dup(outside);
        if (outside < 0 || outside_dup < 0) { fail("outside process"); return finish(); }
    }
    pid_t waiting = fork();
    if (waiting == 0) { wait_for_term(); _exit(7); }
    pid_t gone = fork();
    if (gone == 0) _exit(0);
    int live = pidfd_open(waiting, 0), dead1 = pidfd_open(gone, 0), dead2 = pidfd_open(gone, 0);
    waitpid(gone, NULL, 0);
    int self = pidfd_open(getpid(), O_NONBLOCK);
    int p[2];
    if (live < 0 || dead1 < 0 || self < 0 || pipe(p) != 0 || write(p[1], "data", 4) != 4) { fail("setup"); return finish(); }
    close(p[1]);
    /* A thread of ours and its pidfd (with a dup), where PIDFD_THREAD is known (Linux 6.9). */
    pthread_t thread;
    struct sigaction usr1;
    memset(&usr1, 0, sizeof usr1);
    usr1.sa_handler = on_usr1;
    sigaction(SIGUSR1, &usr1, NULL);
    if (pthread_create(&thread, NULL, thread_main, NULL) != 0) { fail("pthread_create"); return finish(); }
    while (!thread_tid) usleep(1000);
    int of_thread = pidfd_open(thread_tid, PIDFD_THREAD | O_NONBLOCK), of_thread_dup = of_thread >= 0 ? dup(of_thread) : -1;
    if (of_thread < 0 && errno != EINVAL) { fail("pidfd_open(thread): %s", strerror(errno)); return finish(); }

    ready();
    wait_for_term();

    if (pidfd_signal(live, SIGTERM) != 0) fail("SIGTERM through the pidfd: %s", strerror(errno));
    int status = 0;
    pid_t ended = wait(&status);
    if (ended <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 7) fail("the child did not end by its pidfd (%d, status %x: %s)", ended, status, strerror(errno));
    struct stat a, b;
    if (fstat(dead1, &a) != 0 || fstat(dead2, &b) != 0 || a.st_ino != b.st_ino) fail("the gone child's pidfds do not share an inode");
    if (pidfd_signal(dead1, 0) == 0 || errno != ESRCH) fail("the gone child's pidfd signals someone");
    if (!(fcntl(self, F_GETFL) & O_NONBLOCK)) fail("this process's pidfd is not nonblocking");
    if (pidfd_signal(self, 0) != 0) fail("this process's pidfd does not reach it: %s", strerror(errno));
    char buf[8] = { 0 };
    if (read(p[0], buf, sizeof buf) != 4 || memcmp(buf, "data", 4) != 0) fail("the writerless pipe lost its bytes");
    else if (read(p[0], buf, sizeof buf) != 0) fail("no end of file after the writerless pipe's bytes");
    if (of_thread >= 0) {
        pid_t now = other_thread();
        if (fdinfo_pid(of_thread) != now || fdinfo_pid(of_thread_dup) != now)
            fail("the thread's pidfd and its dup name %d and %d, not the thread %d", fdinfo_pid(of_thread), fdinfo_pid(of_thread_dup), now);
        if (!(fcntl(of_thread, F_GETFL) & O_NONBLOCK)) fail("the thread's pidfd is not nonblocking");
        if (syscall(SYS_pidfd_send_signal, of_thread_dup, SIGUSR1, NULL, PIDFD_SIGNAL_THREAD) != 0) fail("SIGUSR1 to the thread by its pidfd: %s", strerror(errno));
        for (int k = 0; k < 2000 && !signalled_in; k++) usleep(1000);
        if (signalled_in != now) fail("SIGUSR1 through the thread's pidfd ran in %d, not the thread %d", signalled_in, now);
    }
    /* Not made again: each number is held by a stand-in that reads as closed (EBADF) and names itself. */
    for (int k = 0; argc > 1 && k < 2; k++) {
        int fd = k == 0 ? outside : outside_dup;
        char path[64], link[256] = "";
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) link[n] = 0;
        errno = 0;
        long sent = syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0);
        if (sent != -1 || errno != EBADF || !strstr(link, "was not restored"))
            fail("the pidfd of the gone outside process (fd %d) should be closed, its number held: it is \"%s\" (errno %d)", fd, link, errno);
    }
    return finish();
}
