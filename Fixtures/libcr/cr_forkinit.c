/* A process forked after its parent called cr_init() has a working agent
 * once it calls cr_init() itself: its callbacks run at its checkpoint (BLCR
 * resets libcr's thread state in the child, cr_async.c thread_reset()).
 * The parent's own agent is not disturbed. Usage: cr_forkinit (the child
 * prints READY; TERM to it reports). */
#include <libcr.h>
#include <sys/wait.h>
#include "fixture.h"

static volatile int ran;
static int callback(void *arg) { (void)arg; ran++; return cr_checkpoint(CR_CHECKPOINT_READY) < 0; }

int main(void) {
    if (cr_init() < 0) { fail("parent cr_init"); return finish(); }
    handle_term();
    pid_t child = fork();
    if (child == 0) {
        if (cr_init() < 0 || cr_register_callback(callback, NULL, CR_THREAD_CONTEXT) < 0) { fail("child setup"); return finish(); }
        ready();
        wait_for_term();
        if (ran != 1) fail("the child's callback ran %d times at its checkpoint, want 1", ran);
        return finish();
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
