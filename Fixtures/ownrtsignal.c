/* A program with a SIGRTMAX (CR_SIGNUM) handler of its own and no libcr, as
 * every Go program has (its runtime catches all signals), or one that uses
 * SIGRTMAX for its own ends. A handler is no libcr agent: the checkpoint must
 * not send the program its request, which the program would take as its own
 * signal (and then wait 5 s for an agent that never answers). After the
 * restart: the handler never ran, and it is still installed. */
#include "fixture.h"

static volatile sig_atomic_t taken;

static void on_rtmax(int sig, siginfo_t *info, void *context) { (void)sig; (void)info; (void)context; taken++; }

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_rtmax;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMAX, &sa, NULL);

    ready();
    wait_for_term();

    if (taken) fail("SIGRTMAX reached the program's own handler %d times across the checkpoint", (int)taken);
    struct sigaction now;
    sigaction(SIGRTMAX, NULL, &now);
    if (!(now.sa_flags & SA_SIGINFO) || now.sa_sigaction != on_rtmax) fail("the SIGRTMAX handler was not restored");
    return finish();
}
