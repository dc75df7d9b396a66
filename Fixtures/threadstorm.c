/* Threads are born and die all the time, so the checkpoint freezes a
 * process whose thread list keeps changing: four creator threads each make
 * and join short-lived threads in a loop. After restart they go on, and the
 * counts must add up. */
#include "fixture.h"
#include <pthread.h>
#include <stdatomic.h>

#define CREATORS 4
static atomic_long started, finished;

static void *short_lived(void *arg) { (void)arg; atomic_fetch_add(&finished, 1); return NULL; }

static void *creator(void *arg) {
    (void)arg;
    while (!fixture_stop) {
        pthread_t t;
        if (pthread_create(&t, NULL, short_lived, NULL) != 0) { fail("pthread_create"); break; }
        atomic_fetch_add(&started, 1);
        pthread_join(t, NULL);
    }
    return NULL;
}

int main(void) {
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, NULL);  /* SIGTERM is for main, which waits in sigsuspend */
    pthread_t c[CREATORS];
    for (int i = 0; i < CREATORS; i++) pthread_create(&c[i], NULL, creator, NULL);
    ready();
    wait_for_term();
    for (int i = 0; i < CREATORS; i++) pthread_join(c[i], NULL);
    if (atomic_load(&finished) != atomic_load(&started)) fail("%ld threads started, %ld finished", (long)started, (long)finished);
    if (atomic_load(&started) < 100) fail("only %ld threads were made", (long)started);
    return finish();
}
