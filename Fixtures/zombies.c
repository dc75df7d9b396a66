/* Children that died in every way: exit codes 0 and 3, SIGKILL, a real
 * SIGSEGV and SIGTERM, left unreaped. After restart each is still a zombie
 * and waitpid reports exactly how it died. (A recreated zombie that dies by
 * SIGSEGV once ran cr_restart's crash handler, inherited by its stub.) */
#include "fixture.h"
#include <sys/wait.h>

struct death { int exited; int code; pid_t pid; };
static struct death deaths[] = { {1, 0, 0}, {1, 3, 0}, {0, SIGKILL, 0}, {0, SIGSEGV, 0}, {0, SIGTERM, 0} };
#define N (int)(sizeof deaths / sizeof deaths[0])

int main(void) {
    for (int i = 0; i < N; i++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 2; }
        if (pid == 0) {
            signal(SIGSEGV, SIG_DFL);
            if (deaths[i].exited) _exit(deaths[i].code);
            if (deaths[i].code == SIGSEGV) *(volatile int *)0 = 1;
            kill(getpid(), deaths[i].code);
            _exit(99);
        }
        deaths[i].pid = pid;
    }
    for (int i = 0; i < N; i++) {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        if (waitid(P_PID, deaths[i].pid, &info, WEXITED | WNOWAIT) != 0) { perror("waitid"); return 2; }
    }
    ready();
    wait_for_term();
    /* By status, not PID: restored without root, the zombies have new PIDs. */
    int seen[N] = {0}, status, found = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int matched = 0;
        for (int i = 0; i < N && !matched; i++) {
            if (seen[i]) continue;
            if ((deaths[i].exited && WIFEXITED(status) && WEXITSTATUS(status) == deaths[i].code) ||
                (!deaths[i].exited && WIFSIGNALED(status) && WTERMSIG(status) == deaths[i].code)) seen[i] = matched = 1;
        }
        if (!matched) fail("zombie %d: status 0x%x is none of the deaths", pid, status);
        found++;
    }
    if (found != N) fail("%d zombies left, wanted %d", found, N);
    for (int i = 0; i < N; i++)
        if (!seen[i]) fail("no zombie %s %d", deaths[i].exited ? "exited with" : "killed by signal", deaths[i].code);
    return finish();
}
