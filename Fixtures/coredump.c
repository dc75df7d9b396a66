/* For `swiftcr core`: a known string in memory and a known call chain
 * (main -> level2 -> level3 -> wait) for gdb to find in the exported core,
 * plus a second thread. */
#include "fixture.h"
#include <pthread.h>

char marker[] = "swiftcr core marker";

static void *idle(void *arg) { (void)arg; leave_term_to_main(); for (;;) pause(); return NULL; }
__attribute__((noinline)) static void level3(void) { wait_for_term(); __asm__ volatile(""); }
__attribute__((noinline)) static void level2(void) { level3(); __asm__ volatile(""); }

int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    ready();
    level2();
    return finish();
}
