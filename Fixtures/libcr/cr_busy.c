/* A process inside its checkpoint callback (which takes a second) is
 * checkpointed again: the second checkpoint fails with EBUSY at once, as
 * BLCR's kernel refuses a request for a process with one in progress; the
 * first completes. Usage: cr_busy (prints READY, waits for TERM). */
#include <libcr.h>
#include "fixture.h"

static volatile int rounds;

static int slow(void *arg) {
    (void)arg;
    sleep(1);
    rounds++;
    return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

int main(void) {
    if (cr_init() < 0 || cr_register_callback(slow, NULL, CR_THREAD_CONTEXT) < 0) { fail("setup"); return finish(); }
    ready();
    wait_for_term();
    if (rounds != 1) fail("the callback ran %d times, want 1", rounds);
    return finish();
}
