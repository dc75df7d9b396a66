/* libcr's agent thread takes no signals: a process-directed signal the
 * application blocks stays pending until the application unblocks it, as
 * in a BLCR process (whose agent work runs in the application's own
 * threads, with their masks): blocked after cr_init() in every application
 * thread, it must not run its handler early. */
#include <libcr.h>
#include <signal.h>
#include "fixture.h"

static volatile sig_atomic_t ran;
static void on_usr1(int sig) { (void)sig; ran = 1; }

int main(void) {
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    /* cr_init first: its thread must not take what the application blocks later. */
    if (cr_init() < 0) { fail("cr_init: %s", strerror(errno)); return finish(); }
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    signal(SIGUSR1, on_usr1);
    kill(getpid(), SIGUSR1);
    usleep(200000);
    if (ran) fail("SIGUSR1, blocked by the application, ran its handler on libcr's thread");
    sigset_t pending;
    sigpending(&pending);
    if (!sigismember(&pending, SIGUSR1)) fail("SIGUSR1 is not pending for the application");
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
    if (!ran) fail("SIGUSR1 did not run once unblocked");
    return finish();
}
