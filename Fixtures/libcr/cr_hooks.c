/* CR_HOOK_CONT_NO_CALLBACKS and CR_HOOK_RSTRT_NO_CALLBACKS run once, in the
 * thread that never called cr_init(), after a checkpoint (BLCR tests/hooks.c;
 * cr_core.c runs them in such a thread's handler). A second thread that did
 * call cr_init() and the main thread do not run them. Usage: cr_hooks cont
 * (checkpoint it and go on) or cr_hooks rstrt (checkpoint, kill, restart);
 * TERM reports. */
#include <libcr.h>
#include <pthread.h>
#include "fixture.h"

static pthread_t plain, initialized;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int events, last_event = -1, in_plain;
static int stop_pipe[2];

static void hook(cr_hook_event_t event) {
    pthread_mutex_lock(&lock);
    events++;
    last_event = event;
    in_plain = pthread_equal(pthread_self(), plain);
    pthread_mutex_unlock(&lock);
}

static int callback(void *arg) { (void)arg; return cr_checkpoint(CR_CHECKPOINT_READY) < 0; }

static void *idle_thread(void *arg) {
    leave_term_to_main();
    if (arg && cr_init() < 0) fail("cr_init in the second thread");
    char c;
    while (read(stop_pipe[0], &c, 1) < 0 && errno == EINTR) {}
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int restart = !strcmp(argv[1], "rstrt");
    if (cr_init() < 0 || cr_register_callback(callback, NULL, CR_THREAD_CONTEXT) < 0 || pipe(stop_pipe) != 0) { fail("setup"); return finish(); }
    cr_register_hook(CR_HOOK_CONT_NO_CALLBACKS, hook);
    cr_register_hook(CR_HOOK_RSTRT_NO_CALLBACKS, hook);
    if (pthread_create(&plain, NULL, idle_thread, NULL) != 0 || pthread_create(&initialized, NULL, idle_thread, "init") != 0) {
        fail("pthread_create");
        return finish();
    }
    ready();
    wait_for_term();
    int want = restart ? CR_HOOK_RSTRT_NO_CALLBACKS : CR_HOOK_CONT_NO_CALLBACKS;
    /* The hook runs in its thread while this one runs on (as in BLCR, where
     * its test waits at a barrier): give it up to 5 s, then 0.1 s more for a second one. */
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&lock);
        int seen = events;
        pthread_mutex_unlock(&lock);
        if (seen) break;
        usleep(10000);
    }
    usleep(100000);
    pthread_mutex_lock(&lock);
    if (events != 1) fail("NO_CALLBACKS hooks ran %d times, want 1", events);
    else if (last_event != want) fail("the hook saw event %d, want %d", last_event, want);
    else if (!in_plain) fail("the hook ran in a thread that called cr_init()");
    pthread_mutex_unlock(&lock);
    close(stop_pipe[1]);
    pthread_join(plain, NULL);
    pthread_join(initialized, NULL);
    return finish();
}
