/* A memfd holding a script, its mode changed with fchmod, kept without
 * close-on-exec. After restart it still executes (no writer other than
 * memfd_create's own descriptor, or exec says ETXTBSY), its mode and flags
 * are the same, and the descriptor is still not close-on-exec.
 * Usage: memfdexec */
#include "fixture.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int runs(int fd) {
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = { "true", NULL }, *envp[] = { NULL };
        syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
        _exit(errno);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

int main(void) {
    int fd = memfd_create("script", 0);
    const char script[] = "#!/bin/true\n";
    if (fd < 0 || write(fd, script, sizeof script - 1) != (ssize_t)(sizeof script - 1) || fchmod(fd, 0751) != 0) { fail("memfd"); return finish(); }
    int before = runs(fd);
    if (before != 0) fail("exec before the checkpoint: %s", strerror(before));
    int flags = fcntl(fd, F_GETFL);

    ready();
    wait_for_term();

    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_mode & 07777) != 0751) fail("mode %o, want 751", st.st_mode & 07777);
    if (fcntl(fd, F_GETFD) != 0) fail("close-on-exec is set");
    if (fcntl(fd, F_GETFL) != flags) fail("flags %o, want %o", fcntl(fd, F_GETFL), flags);
    int after = runs(fd);
    if (after != 0) fail("exec after restart: %s", strerror(after));
    return finish();
}
