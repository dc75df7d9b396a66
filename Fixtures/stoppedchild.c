/* A child stopped by SIGSTOP that would run on at once if let go: a byte
 * waits in the pipe it blocks on. After restart the parent still finds it
 * stopped (waitpid WUNTRACED), then continues it, and it exits with the byte
 * it read. (A stop sent only after the restorer let go came too late: the
 * child read the byte and exited first.) With "tstp" the child is stopped
 * by SIGTSTP (in a process group of its own, so the stop is not dropped as
 * in an orphaned group), and must be found stopped by SIGTSTP again. */
#include "fixture.h"
#include <sys/wait.h>

int main(int argc, char **argv) {
    int tstp = argc > 1 && strcmp(argv[1], "tstp") == 0;
    int stop = tstp ? SIGTSTP : SIGSTOP;
    int p[2];
    if (pipe(p) != 0) return 2;
    handle_term();
    pid_t child = fork();
    if (child == 0) {
        if (tstp) setpgid(0, 0);
        close(p[1]);
        char c = 0;
        if (read(p[0], &c, 1) != 1) _exit(100);
        _exit(c);
    }
    close(p[0]);
    if (tstp) setpgid(child, child);
    kill(child, stop);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, child, &info, WSTOPPED | WNOWAIT) != 0) { perror("waitid"); return 2; }
    char seven = 7;
    if (write(p[1], &seven, 1) != 1) return 2;
    ready();
    wait_for_term();
    /* Its only child, by any PID: restored without root it has a new one. */
    int status = 0;
    pid_t now = waitpid(-1, &status, WUNTRACED);
    if (now <= 0 || !WIFSTOPPED(status)) {
        fail("the child is not stopped after restart (status 0x%x)", status);
    } else if (WSTOPSIG(status) != stop) {
        fail("the child was stopped by signal %d, now by %d", stop, WSTOPSIG(status));
        kill(now, SIGKILL);
    } else {
        kill(now, SIGCONT);
        if (waitpid(now, &status, 0) != now || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
            fail("the continued child did not exit with the byte it read (status 0x%x)", status);
    }
    return finish();
}
