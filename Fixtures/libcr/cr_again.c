/* Callbacks keep running checkpoint after checkpoint of restarted copies:
 * checkpointed and killed ROUNDS times, each time restarted from the new
 * image (a user's restart runs in a new PID namespace, where the
 * checkpointer's pid reads 0), the last copy must have seen each thread- and
 * signal-context callback ROUNDS times, each returning > 0 (restarted).
 * Usage: cr_again ROUNDS */
#include <libcr.h>
#include "fixture.h"

#define MAX_ROUNDS 8
static volatile int thread_results[MAX_ROUNDS], signal_results[MAX_ROUNDS], thread_rounds, signal_rounds;

static int thread_callback(void *arg) {
    (void)arg;
    int r = cr_checkpoint(0);
    if (thread_rounds < MAX_ROUNDS) thread_results[thread_rounds] = r;
    thread_rounds++;
    return 0;
}

static int signal_callback(void *arg) {
    (void)arg;
    int r = cr_checkpoint(0);
    if (signal_rounds < MAX_ROUNDS) signal_results[signal_rounds] = r;
    signal_rounds++;
    return 0;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 0;
    if (rounds < 1 || rounds > MAX_ROUNDS) { fprintf(stderr, "usage: cr_again ROUNDS (1..%d)\n", MAX_ROUNDS); return 2; }
    if (cr_init() < 0) { fail("cr_init: %s", strerror(errno)); return finish(); }
    if (cr_register_callback(thread_callback, NULL, CR_THREAD_CONTEXT) < 0) fail("register thread callback");
    if (cr_register_callback(signal_callback, NULL, CR_SIGNAL_CONTEXT) < 0) fail("register signal callback");
    ready();
    wait_for_term();
    /* The thread-context callback finishes in libcr's thread after a restart. */
    for (int i = 0; i < 200 && thread_rounds < rounds; i++) usleep(10000);
    if (thread_rounds != rounds || signal_rounds != rounds)
        fail("callbacks ran %d (thread) and %d (signal) times, want %d each", thread_rounds, signal_rounds, rounds);
    for (int k = 0; k < rounds && k < MAX_ROUNDS; k++)
        if (thread_results[k] <= 0 || signal_results[k] <= 0)
            fail("round %d: callbacks got %d/%d, want > 0 (restarted)", k + 1, thread_results[k], signal_results[k]);
    return finish();
}
