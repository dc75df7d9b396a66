/* The prctl() settings BLCR's tests/prctl.c checks come back after a
 * restart: parent-death signal, dumpable, keep-capabilities, the thread's
 * name and its timer slack (issue 14 D15). Each is set away from its
 * default before the checkpoint. Usage: cr_prctl (TERM reports). */
#include <libcr.h>
#include <sys/prctl.h>
#include "fixture.h"

int main(void) {
    if (cr_init() < 0) { fail("cr_init"); return finish(); }
    int keep = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) ? 0 : 1;
    unsigned long slack = (unsigned long)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) == 100000 ? 70000 : 100000;
    if (prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0) != 0 || prctl(PR_SET_KEEPCAPS, keep, 0, 0, 0) != 0 ||
        prctl(PR_SET_NAME, "testing", 0, 0, 0) != 0 || prctl(PR_SET_TIMERSLACK, slack, 0, 0, 0) != 0 ||
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) { fail("prctl: %s", strerror(errno)); return finish(); }
    ready();
    wait_for_term();
    int sig = 0;
    char name[32] = { 0 };
    if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) != 0 || sig != SIGUSR2) fail("PR_GET_PDEATHSIG %d, want %d", sig, SIGUSR2);
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) fail("PR_GET_DUMPABLE %d, want 1", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != keep) fail("PR_GET_KEEPCAPS %d, want %d", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), keep);
    if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0 || strcmp(name, "testing") != 0) fail("PR_GET_NAME '%s', want 'testing'", name);
    if ((unsigned long)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) != slack) fail("PR_GET_TIMERSLACK %d, want %lu", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), slack);
    return finish();
}
