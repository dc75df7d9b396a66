/* A child subreaper (prctl PR_SET_CHILD_SUBREAPER), as service managers
 * and container inits are: after restart the flag is still set, and an
 * orphaned grandchild forked after the restart is reparented to us. */
#include "fixture.h"
#include <sys/prctl.h>
#include <sys/wait.h>

int main(void) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) { perror("PR_SET_CHILD_SUBREAPER"); return 2; }
    ready();
    wait_for_term();
    int flag = -1;
    if (prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) != 0 || flag != 1) fail("the subreaper flag is %d after restart", flag);
    int pipefd[2];
    if (pipe(pipefd) != 0) fail("pipe");
    pid_t child = fork();
    if (child == 0) {
        /* The child forks a grandchild and exits: the grandchild is an orphan. */
        pid_t grandchild = fork();
        if (grandchild == 0) {
            close(pipefd[1]);
            char c;
            (void)read(pipefd[0], &c, 1);  /* until the parent has looked */
            _exit(0);
        }
        _exit(grandchild > 0 ? 0 : 1);
    }
    close(pipefd[0]);
    waitpid(child, NULL, 0);
    /* The orphan must now be our child: waitpid on "any child" finds it. */
    usleep(100000);
    int status;
    pid_t orphan_parent_ok = 0;
    close(pipefd[1]);
    pid_t reaped = waitpid(-1, &status, 0);
    if (reaped > 0) orphan_parent_ok = 1;
    if (!orphan_parent_ok) fail("the orphaned grandchild was not reparented to us");
    return finish();
}
