/* A process that exits inside its checkpoint callback: the checkpoint
 * fails with ESRCH at once (BLCR: the target is gone), not after the
 * request's time limit. Usage: cr_exitcb (prints READY, waits). */
#include <libcr.h>
#include "fixture.h"

static int leave(void *arg) { (void)arg; _exit(0); }

int main(void) {
    if (cr_init() < 0 || cr_register_callback(leave, NULL, CR_THREAD_CONTEXT) < 0) { fail("setup"); return finish(); }
    ready();
    for (;;) pause();
}
