/* BLCR callbacks in both contexts: cr_checkpoint() returns 0 when the
 * process continues after a checkpoint and > 0 in the restarted image;
 * checkpoint info inside the callback, restart info after; the API's error
 * cases. Usage: cr_callbacks IMAGE (the image the restart comes from). */
#include <libcr.h>
#include "fixture.h"

static volatile int thread_results[4], signal_results[4], thread_rounds, signal_rounds, info_ok = 1;
static volatile int hook_calls;

static int thread_callback(void *arg) {
    const struct cr_checkpoint_info *info = cr_get_checkpoint_info();
    if (!info || info->requester <= 0 || info->target != getpid() || arg != (void *)0x1234) info_ok = 0;
    int r = cr_checkpoint(CR_CHECKPOINT_READY);
    if (thread_rounds < 4) thread_results[thread_rounds++] = r;
    return 0;
}

static int signal_callback(void *arg) {
    (void)arg;
    int r = cr_checkpoint(0);
    if (signal_rounds < 4) signal_results[signal_rounds++] = r;
    return 0;
}

static void hook(cr_hook_event_t event) { (void)event; hook_calls++; }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (cr_register_callback(thread_callback, NULL, CR_THREAD_CONTEXT) != -1 || errno != CR_ENOINIT)
        fail("registering before cr_init: want CR_ENOINIT, got errno %d", errno);
    if (cr_init() < 0) { fail("cr_init: %s", strerror(errno)); return finish(); }
    if (cr_register_callback(thread_callback, NULL, 0) != -1 || errno != EINVAL) fail("no context flag: want EINVAL");
    if (cr_register_callback(thread_callback, NULL, CR_THREAD_CONTEXT | CR_SIGNAL_CONTEXT) != -1 || errno != EINVAL) fail("both contexts: want EINVAL");
    if (cr_checkpoint(0) != -CR_ENOTCB) fail("cr_checkpoint outside a callback: want -CR_ENOTCB");
    /* BLCR (cr_cs.c, CRI_CB_INFO_OR_RETURN(-1)): -1 with errno CR_ENOTCB. */
    if (cr_replace_self(NULL, NULL, CR_THREAD_CONTEXT) != -1 || errno != CR_ENOTCB) fail("cr_replace_self outside a callback: want -1/CR_ENOTCB");
    if (cr_get_checkpoint_info() != NULL) fail("checkpoint info outside a callback");
    if (cr_get_restart_info() != NULL) fail("restart info before any restart");
    if (strcmp(cr_strerror(CR_ETEMPFAIL), "Temporary error: checkpoint cancelled") != 0) fail("cr_strerror(CR_ETEMPFAIL) = %s", cr_strerror(CR_ETEMPFAIL));
    if (strcmp(cr_strerror(ENOENT), strerror(ENOENT)) != 0) fail("cr_strerror(ENOENT)");
    int id = cr_register_callback(thread_callback, NULL, CR_THREAD_CONTEXT);
    if (id < 0 || cr_replace_callback(id, thread_callback, (void *)0x1234, CR_THREAD_CONTEXT) != 0) fail("register/replace thread callback");
    if (cr_replace_callback(id, thread_callback, NULL, CR_SIGNAL_CONTEXT) != -1 || errno != EINVAL) fail("changing a callback's context: want EINVAL");
    if (cr_register_callback(signal_callback, NULL, CR_SIGNAL_CONTEXT) < 0) fail("register signal callback");
    cr_register_hook(CR_HOOK_CONT_THREAD_CONTEXT, hook);
    cr_register_hook(CR_HOOK_RSTRT_THREAD_CONTEXT, hook);
    if (cr_register_hook(99, hook) != CR_HOOK_FN_ERROR) fail("bad hook event");

    ready();
    wait_for_term();
    /* The thread-context callback finishes in libcr's own thread, which runs
     * on beside this one after the restart (as BLCR's callback thread does). */
    for (int i = 0; i < 200 && (thread_rounds < 2 || hook_calls < 2); i++) usleep(10000);

    if (thread_rounds != 2 || signal_rounds != 2) fail("callbacks ran %d (thread) and %d (signal) times, want 2 each", thread_rounds, signal_rounds);
    if (thread_results[0] != 0 || signal_results[0] != 0) fail("after a checkpoint the callbacks got %d/%d, want 0", thread_results[0], signal_results[0]);
    if (thread_results[1] <= 0 || signal_results[1] <= 0) fail("after the restart the callbacks got %d/%d, want > 0", thread_results[1], signal_results[1]);
    if (!info_ok) fail("cr_get_checkpoint_info() in the callback was wrong");
    const struct cr_restart_info *ri = cr_get_restart_info();
    if (!ri || ri->requester <= 0 || !ri->src || strcmp(ri->src, argv[1]) != 0) fail("restart info: src %s, want %s", ri && ri->src ? ri->src : "(null)", argv[1]);
    if (hook_calls != 2) fail("hooks called %d times, want 2 (continue, restart)", hook_calls);
    if (cr_status() != CR_STATE_IDLE) fail("cr_status() %d after the restart", cr_status());
    return finish();
}
