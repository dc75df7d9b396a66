/* cr_request_restart: the restored process is the caller's child, so
 * waitpid() on the PID cr_poll_restart gives works (BLCR restarts into
 * children of the requester, cr_request.c forks them). The test made IMAGE
 * of a process that waits for a signal; this program restarts it, kills it
 * and reaps it; with "exit", waits for it to exit by itself with status 0
 * (cr_requester's verdict). With "pid", asks for the original PIDs
 * (CR_RSTRT_RESTORE_PID) and checks that the process sees ORIGINAL as its
 * PID (the last of /proc/PID/status's NSpid): a user who may not choose
 * PIDs gets them in a user and PID namespace of cr_restart's, and the
 * process is still the caller's child, to wait for (BLCR's crut tests).
 * With "sid": an image of Fixtures/sessionids (both) restarted twice with
 * new PIDs and CR_RSTRT_RESTORE_SID|PGID (BLCR's pid_restore): each time
 * the original session and group, and no zombie left behind (the helper
 * that led them again is reaped, so the second restart finds them free).
 * Usage: cr_rstrt_child IMAGE [exit] [pid ORIGINAL] [sid] */
#include <libcr.h>
#include <fcntl.h>
#include <sys/wait.h>
#include "fixture.h"

static void restart_session(const char *image) {
    for (int round = 1; round <= 2; round++) {
        int fd = open(image, O_RDONLY);
        if (fd < 0) { fail("open %s: %s", image, strerror(errno)); return; }
        cr_restart_args_t a;
        cr_initialize_restart_args_t(&a);
        a.cr_fd = fd;
        a.cr_flags = CR_RSTRT_RESTORE_SID | CR_RSTRT_RESTORE_PGID;
        cr_restart_handle_t h;
        if (cr_request_restart(&a, &h) != 0) { fail("round %d: cr_request_restart: %s", round, strerror(errno)); return; }
        struct timeval limit = { 30, 0 };
        int pid = cr_poll_restart(&h, &limit);
        close(fd);
        if (pid <= 0) { fail("round %d: cr_poll_restart gave %d (%s)", round, pid, cr_strerror(errno)); return; }
        kill(pid, SIGTERM);  /* sessionids checks its IDs then */
        int status = 0;
        if (waitpid(pid, &status, 0) != pid) { fail("round %d: waitpid(%d): %s", round, pid, strerror(errno)); return; }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("round %d: the restored process reported status %x", round, status);
        errno = 0;
        pid_t left = waitpid(-1, &status, WNOHANG | __WALL);
        if (left != -1 || errno != ECHILD) fail("round %d: a child is left behind (waitpid gave %d)", round, left);
    }
}

/* The PID the process sees for itself: the last number of NSpid. */
static int own_pid_of(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int seen = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "NSpid:", 6) != 0) continue;
        for (char *p = line + 6, *end; ; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            seen = (int)v;
        }
    }
    fclose(f);
    return seen;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int byItself = 0, originalPIDs = 0, session = 0;
    for (int k = 2; k < argc; k++) {
        byItself |= strcmp(argv[k], "exit") == 0; session |= strcmp(argv[k], "sid") == 0;
        if (strcmp(argv[k], "pid") == 0 && k + 1 < argc) originalPIDs = atoi(argv[++k]);
    }
    if (session) { restart_session(argv[1]); return finish(); }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { fail("open %s: %s", argv[1], strerror(errno)); return finish(); }
    cr_restart_args_t a;
    cr_initialize_restart_args_t(&a);
    a.cr_fd = fd;
    a.cr_flags = originalPIDs ? CR_RSTRT_RESTORE_PID : 0;  /* else new PIDs: the original's may still be taken */
    cr_restart_handle_t h;
    if (cr_request_restart(&a, &h) != 0) { fail("cr_request_restart: %s", strerror(errno)); return finish(); }
    struct timeval limit = { 30, 0 };
    int pid = cr_poll_restart(&h, &limit);
    if (pid <= 0) { fail("cr_poll_restart gave %d (%s)", pid, cr_strerror(errno)); return finish(); }
    if (originalPIDs) {
        int seen = own_pid_of(pid);
        if (seen != originalPIDs) fail("the restored process (pid %d here) has PID %d where it runs, not the original %d", pid, seen, originalPIDs);
    }
    if (!byItself) kill(pid, SIGKILL);
    int status = 0;
    errno = 0;
    pid_t r = waitpid(pid, &status, 0);
    if (r != pid) fail("waitpid(%d) gave %d (%s): the restored process is not our child", pid, r, strerror(errno));
    else if (byItself ? !WIFEXITED(status) || WEXITSTATUS(status) != 0 : !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) fail("status %x", status);
    return finish();
}
