/* A tracer and its tracee, for BLCR's ptrace rules: the parent PTRACE_SEIZEs
 * its child and prints "READY <tracer> <tracee>"; both wait for SIGTERM. */
#include "fixture.h"
#include <sys/ptrace.h>
#include <sys/wait.h>

int main(void) {
    pid_t child = fork();
    if (child == 0) {
        for (;;) pause();
    }
    if (ptrace(PTRACE_SEIZE, child, NULL, NULL) != 0) { perror("PTRACE_SEIZE"); kill(child, SIGKILL); return 1; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fixture_on_term;
    sigaction(SIGTERM, &sa, NULL);
    printf("READY %d %d\n", getpid(), child);
    fflush(stdout);
    wait_for_term();
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return finish();
}
