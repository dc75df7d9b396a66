/* A process group this process leads, with a member outside its tree: a
 * child forks a grandchild and exits, so the grandchild, still in our
 * group, is reparented elsewhere. A checkpoint of our tree cannot hold it,
 * and while it lives our PID stays taken (it is its group's ID): the
 * checkpoint must say so. The grandchild leaves when we do.
 * Prints "OUTSIDER <pid>" before READY. */
#include "fixture.h"
#include <sys/wait.h>

int main(void) {
    if (getpgid(0) != getpid() && setpgid(0, 0) != 0) { fail("setpgid: %s", strerror(errno)); return finish(); }
    pid_t root = getpid();
    int sync[2];
    if (pipe(sync) != 0) { fail("pipe"); return finish(); }
    pid_t child = fork();
    if (child == 0) {
        pid_t outsider = fork();
        if (outsider == 0) {
            close(sync[0]);
            close(sync[1]);
            alarm(60);
            while (kill(root, 0) == 0 && getppid() != root) usleep(100000);
            _exit(0);
        }
        if (write(sync[1], &outsider, sizeof outsider) != sizeof outsider) _exit(1);
        _exit(0);
    }
    close(sync[1]);
    pid_t outsider = 0;
    if (read(sync[0], &outsider, sizeof outsider) != sizeof outsider) fail("no outsider");
    waitpid(child, NULL, 0);
    printf("OUTSIDER %d\n", outsider);
    ready();
    wait_for_term();
    if (getpgid(outsider) != root) fail("the outsider left our group");
    return finish();
}
