/* Two processes whose checkpoint callbacks wait for each other (each sends
 * a byte to the other and waits up to 5 s for the other's): a checkpoint
 * of both must run their callbacks at once, as BLCR's kernel signals every
 * process of the request together, not one after the other.
 * Usage: cr_meet (parent prints READY; TERM to it ends both and reports). */
#include <libcr.h>
#include <poll.h>
#include <sys/wait.h>
#include "fixture.h"

static int to_other = -1, from_other = -1;
static volatile int met;

static int meet(void *arg) {
    (void)arg;
    char c = 'm';
    struct pollfd p = { from_other, POLLIN, 0 };
    if (write(to_other, &c, 1) == 1 && poll(&p, 1, 5000) == 1 && read(from_other, &c, 1) == 1) met = 1;
    return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

int main(void) {
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0) return 2;
    handle_term();
    pid_t child = fork();
    if (child == 0) {
        to_other = b[1], from_other = a[0];
        if (cr_init() < 0 || cr_register_callback(meet, NULL, CR_THREAD_CONTEXT) < 0) _exit(2);
        wait_for_term();
        _exit(met ? 0 : 1);
    }
    to_other = a[1], from_other = b[0];
    if (cr_init() < 0 || cr_register_callback(meet, NULL, CR_THREAD_CONTEXT) < 0) { fail("setup"); return finish(); }
    usleep(100000);  /* the child's cr_init */
    ready();
    wait_for_term();
    kill(child, SIGTERM);
    int status = 0;
    waitpid(child, &status, 0);
    if (!met) fail("the parent's callback did not meet the child's");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the child's callback did not meet the parent's (status %x)", status);
    return finish();
}
