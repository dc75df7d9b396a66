/* Forks short-lived children without pause: each lives 20 ms and is
 * reaped. A checkpoint of the tree finds children that are gone before it
 * can stop them; it must go on without them (they are no longer part of
 * the tree), not fail.
 * Usage: forker */
#include "fixture.h"
#include <sys/wait.h>

int main(void) {
    ready();
    unsigned long forks = 0;
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    while (!fixture_stop) {
        pid_t c = fork();
        if (c == 0) { usleep(20000); _exit(7); }  /* alive long enough to be found */
        if (c < 0) { fail("fork: %s", strerror(errno)); break; }
        int status = 0;
        pid_t r;
        while ((r = waitpid(c, &status, 0)) < 0 && errno == EINTR && fixture_stop) {}  /* our own SIGTERM */
        if (r != c || !WIFEXITED(status) || WEXITSTATUS(status) != 7) { fail("child %d: waitpid %d (%s), status %x", c, r, strerror(errno), status); break; }
        forks++;
    }
    printf("%lu children\n", forks);
    return finish();
}
