/* A working directory that is the /proc directory of a process since
 * gone: after restart it is still such a directory (getcwd says ENOENT,
 * and /proc/self/cwd names a /proc/PID directory), not a directory made
 * alike and not the restorer's; and a /proc file of another process,
 * kept open after it died, still open (as a gone process's file).
 * Usage: proccwd */
#include "fixture.h"
#include <fcntl.h>
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
    /* A file of another process kept open after it died (zdtm remap_dead_pid). */
    pid_t other = fork();
    if (other == 0) { pause(); _exit(0); }
    char file[64];
    snprintf(file, sizeof file, "/proc/%d/mountinfo", other);
    int kept = open(file, O_RDONLY);
    if (kept < 0) fail("open %s: %s", file, strerror(errno));
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
    char probe[16];
    ssize_t before = read(kept, probe, sizeof probe);

    ready();
    wait_for_term();

    errno = 0;
    if (getcwd(buf, sizeof buf) != NULL) fail("getcwd works (%s): the working directory is not a gone process's", buf);
    else if (errno != ENOENT) fail("getcwd: %s, want ENOENT", strerror(errno));
    ssize_t n = readlink("/proc/self/cwd", buf, sizeof buf - 1);
    if (n < 0 || strncmp(buf, "/proc/", 6) != 0) fail("/proc/self/cwd is %.*s", (int)(n > 0 ? n : 0), buf);
    if (fcntl(kept, F_GETFD) < 0) fail("the gone process's mountinfo is no longer open: %s", strerror(errno));
    else {
        ssize_t after = read(kept, probe, sizeof probe);
        if ((after > 0) != (before > 0)) fail("the gone process's mountinfo reads %zd bytes, %zd before", after, before);
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", kept);
        n = readlink(proc, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = 0;
        if (strncmp(buf, "/proc/", 6) != 0 || strstr(buf, "/mountinfo") == NULL) fail("the kept file is %s", buf);
    }
    return finish();
}
