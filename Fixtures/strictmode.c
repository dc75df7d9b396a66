/* A child in seccomp strict mode (only read, write, _exit, sigreturn), as
 * sandboxed workers are. After restart it still answers over its pipes,
 * and a forbidden call (getpid) still gets it killed: strict mode came back.
 * Only root can checkpoint and restore it. Run with --tree. */
#include "fixture.h"
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int main(void) {
    int cmd[2], reply[2];
    if (pipe(cmd) != 0 || pipe(reply) != 0) return 2;
    handle_term();
    pid_t child = fork();
    if (child == 0) {
        close(cmd[1]); close(reply[0]);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) _exit(3);
        char c;
        for (;;) {
            if (syscall(SYS_read, cmd[0], &c, 1) != 1) syscall(SYS_exit, 0);
            if (c == 'p') syscall(SYS_write, reply[1], "P", 1);
            if (c == 'x') { syscall(SYS_getpid); syscall(SYS_write, reply[1], "E", 1); }
        }
    }
    close(cmd[0]); close(reply[1]);
    char c = 0;
    if (write(cmd[1], "p", 1) != 1 || read(reply[0], &c, 1) != 1 || c != 'P') { fprintf(stderr, "strict child did not answer\n"); return 2; }
    ready();
    wait_for_term();
    c = 0;
    if (write(cmd[1], "p", 1) != 1 || read(reply[0], &c, 1) != 1 || c != 'P') fail("the strict child no longer answers after restart");
    if (write(cmd[1], "x", 1) != 1) fail("write to the strict child");
    int status = 0;
    if (waitpid(child, &status, 0) <= 0) {
        /* Restored without root it has a new PID: its only child, by any PID. */
        if (waitpid(-1, &status, 0) <= 0) fail("waitpid: %s", strerror(errno));
    }
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail("a forbidden call did not kill the child (status 0x%x): strict mode was lost", status);
    return finish();
}
