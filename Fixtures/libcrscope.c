/* Run by cr_run (libcr_run.so.0 preloaded), a program that never linked
 * libcr finds no cr_init in its symbol scope, and finds libcr's API only
 * through its own dlopen() handle, as under BLCR (its dlopen test, bug
 * 2263: a program that probes for libcr must not think it linked it).
 * Yet libcr is loaded: its CR_SIGNUM handler is installed.
 * Usage: libcrscope. Prints PASS. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include "fixture.h"

int main(void) {
    if (dlsym(RTLD_DEFAULT, "cr_init")) fail("cr_init is in the program's scope before it opened libcr");
    struct sigaction sa;
    if (sigaction(SIGRTMAX, NULL, &sa) != 0 || sa.sa_handler == SIG_DFL) fail("no CR_SIGNUM handler: libcr is not loaded");
    void *libcr = dlopen("libcr.so.0", RTLD_NOW);
    if (!libcr) fail("dlopen(libcr.so.0): %s", dlerror());
    else if (!dlsym(libcr, "cr_init")) fail("cr_init is not in libcr's handle");
    if (dlsym(RTLD_DEFAULT, "cr_init")) fail("cr_init is in the program's scope after a local dlopen");
    return finish();
}
