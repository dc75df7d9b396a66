/* A working directory that is the /proc directory of a process since
 * gone: after restart it is still such a directory (getcwd says ENOENT,
 * and /proc/self/cwd names a /proc/PID directory), not a directory made
 * alike and not the restorer's.
 * Usage: proccwd */
#include "fixture.h"
#include <sys/wait.h>

int main(void) {
    pid_t pid = fork();
    if (pid == 0) { pause(); _exit(0); }
    char dir[64], buf[256];
    snprintf(dir, sizeof dir, "/proc/%d", pid);
    if (chdir(dir) != 0) { fail("chdir %s", dir); return finish(); }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (getcwd(buf, sizeof buf) != NULL || errno != ENOENT) fail("getcwd before the checkpoint");

    ready();
    wait_for_term();

    errno = 0;
    if (getcwd(buf, sizeof buf) != NULL) fail("getcwd works (%s): the working directory is not a gone process's", buf);
    else if (errno != ENOENT) fail("getcwd: %s, want ENOENT", strerror(errno));
    ssize_t n = readlink("/proc/self/cwd", buf, sizeof buf - 1);
    if (n < 0 || strncmp(buf, "/proc/", 6) != 0) fail("/proc/self/cwd is %.*s", (int)(n > 0 ? n : 0), buf);
    return finish();
}
