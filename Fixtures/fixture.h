/* Shared harness for zdtm-style fixtures: set up state, print READY, wait
 * for SIGTERM (the test sends it after restart), check the state, print
 * PASS or FAIL with the reason. */
#ifndef SWIFTCR_FIXTURE_H
#define SWIFTCR_FIXTURE_H
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t fixture_stop;

/* splitmix64's finalizer: seeded fixtures derive every value from it. */
static inline unsigned long long seed_mix(unsigned long long x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static int fixture_failures;

static void fixture_on_term(int sig) { (void)sig; fixture_stop = 1; }

/* SIGTERM ends the wait; call before fork() so children have the handler too. */
static inline void handle_term(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fixture_on_term;
    sigaction(SIGTERM, &sa, NULL);
}

/* For threads other than the one in wait_for_term: a process-directed SIGTERM
 * taken by such a thread would run the handler there and leave the wait asleep. */
static inline void leave_term_to_main(void) {
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, NULL);
}

static inline void ready(void) {
    handle_term();
    printf("READY %d\n", getpid());
    fflush(stdout);
}

/* Waits for SIGTERM without the lost-wakeup race of `while (!stop) pause()`:
 * SIGTERM is blocked except inside sigsuspend, so the checkpoint catches the
 * thread in a system call with a temporary signal mask. */
static inline void wait_for_term(void) {
    sigset_t term, old, during;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &old);
    during = old;
    sigdelset(&during, SIGTERM);
    while (!fixture_stop) sigsuspend(&during);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    fixture_failures++;
}

/* Writes a /proc file whole; a failure ends the fixture. */
static inline void write_proc_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) { printf("FAIL: %s: %m\n", path); fflush(stdout); exit(1); }
}

/* unshare(flags) for namespaces; as a user, in a user namespace made with
 * them that maps the uid and gid to themselves. Returns 0, or -1 (FAIL said). */
static inline int unshare_as_self(int flags) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    int user = geteuid() != 0;
    /* The system call, not glibc's unshare(): a fixture may include system headers before this one, without _GNU_SOURCE. */
    if (syscall(SYS_unshare, flags | (user ? 0x10000000 /* CLONE_NEWUSER */ : 0))) { printf("FAIL: unshare: %m\n"); return -1; }
    if (!user) return 0;
    char map[64];
    write_proc_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "%u %u 1", uid, uid);
    write_proc_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "%u %u 1", gid, gid);
    write_proc_file("/proc/self/gid_map", map);
    return 0;
}

/* The mount id fdinfo shows for fd (-1 if none). */
static inline int mount_id_of_fd(int fd) {
    char p[64], line[256];
    int id = -1;
    snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(p, "r");
    while (f && fgets(line, sizeof line, f)) if (sscanf(line, "mnt_id: %d", &id) == 1) break;
    if (f) fclose(f);
    return id;
}

/* Whether /proc/self/mountinfo lists mount `id` (a mount of our namespace). */
static inline int mounted_here(int id) {
    char line[1024];
    int m, found = 0;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    while (f && fgets(line, sizeof line, f)) if (sscanf(line, "%d", &m) == 1 && m == id) found = 1;
    if (f) fclose(f);
    return found;
}

/* Parent, process group and session of `pid`, from /proc/PID/stat (a
 * zombie's too, unlike getpgid and getsid for another session's). 0 or -1. */
static inline int stat_ids(pid_t pid, int *ppid, int *pgrp, int *sid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *close_paren = strrchr(buf, ')');
    char state;
    if (!close_paren || sscanf(close_paren + 2, "%c %d %d %d", &state, ppid, pgrp, sid) != 4) return -1;
    return 0;
}

static inline int finish(void) {
    if (fixture_failures == 0) printf("PASS\n");
    fflush(stdout);
    return fixture_failures == 0 ? 0 : 1;
}
#endif
