/* The program takes CR_SIGNUM for itself after cr_init() (BLCR tests/cr_signal.c:
 * a catcher, SIG_IGN or SIG_DFL): its checkpoints still run the callbacks,
 * thread-context and signal-context, the catcher never sees the checkpoint,
 * and afterwards (continuing or restarted) the signal is the program's again.
 * Usage: cr_signal catch|ignore|default (TERM reports). */
#include <libcr.h>
#include "fixture.h"

static volatile int thread_ran, signal_ran, caught;
static void catcher(int sig) { (void)sig; caught++; }
static int in_thread(void *arg) { (void)arg; thread_ran++; return cr_checkpoint(CR_CHECKPOINT_READY) < 0; }
static int in_signal(void *arg) { (void)arg; signal_ran++; return cr_checkpoint(CR_CHECKPOINT_READY) < 0; }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    void (*want)(int) = !strcmp(argv[1], "catch") ? catcher : !strcmp(argv[1], "ignore") ? SIG_IGN : SIG_DFL;
    if (cr_init() < 0 || cr_register_callback(in_thread, NULL, CR_THREAD_CONTEXT) < 0 ||
        cr_register_callback(in_signal, NULL, CR_SIGNAL_CONTEXT) < 0) { fail("libcr setup"); return finish(); }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = want;
    if (sigaction(CR_SIGNUM, &sa, NULL) != 0) { fail("sigaction: %s", strerror(errno)); return finish(); }
    ready();
    wait_for_term();
    if (thread_ran != 1) fail("the thread-context callback ran %d times, want 1", thread_ran);
    if (signal_ran != 1) fail("the signal-context callback ran %d times, want 1", signal_ran);
    if (caught) fail("the program's catcher saw %d checkpoint signals", caught);
    struct sigaction now;
    if (sigaction(CR_SIGNUM, NULL, &now) != 0 || now.sa_handler != want) fail("CR_SIGNUM's disposition is no longer the program's");
    if (want == catcher) {
        raise(CR_SIGNUM);
        if (caught != 1) fail("raise(CR_SIGNUM) reached the catcher %d times, want 1", caught);
    } else if (want == SIG_IGN) {
        raise(CR_SIGNUM);
        sigset_t pending;
        sigpending(&pending);
        if (sigismember(&pending, CR_SIGNUM)) fail("an ignored CR_SIGNUM is pending");
    }
    return finish();
}
