/* A process in seccomp strict mode, which the kernel kills for any system
 * call but read, write, _exit and sigreturn. A checkpoint must not be what
 * kills it: as root (seccomp suspended while traced) it is saved and goes
 * on; as a user it is refused and goes on. It reads a line from stdin and
 * answers "ALIVE <line>", forever. */
#include "fixture.h"
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

int main(void) {
    ready();
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) { perror("PR_SET_SECCOMP"); return 2; }
    char line[128];
    for (;;) {
        ssize_t n = syscall(SYS_read, 0, line, sizeof line);
        if (n <= 0) syscall(SYS_exit, 0);
        syscall(SYS_write, 1, "ALIVE ", 6);
        syscall(SYS_write, 1, line, n);
    }
}
