/* cr_forward_checkpoint(): a callback adds a helper process that the
 * request's scope (-p) left out; after restart the helper is back as this
 * process's child. Also libcr's small utilities: spinlocks, persist counts,
 * cr_hold_ctrl. */
#include <libcr.h>
#include <sys/wait.h>
#include "fixture.h"

static pid_t helper;
static volatile int forwarded = -99;

static int callback(void *arg) {
    (void)arg;
    if (forwarded == -99) forwarded = cr_forward_checkpoint(CR_SCOPE_PROC, helper);
    return cr_checkpoint(0) < 0;
}

int main(void) {
    cr_spinlock_t lock = CR_SPINLOCK_INITIALIZER;
    cr_spinlock_init(&lock);
    if (!cr_spinlock_trylock(&lock) || cr_spinlock_trylock(&lock)) fail("spinlock trylock");
    cr_spinlock_unlock(&lock);
    cr_spinlock_lock(&lock);
    cr_spinlock_unlock(&lock);
    if (cr_hold_ctrl(CR_HOLD_SCOPE_THREAD, CR_HOLD_READ) != CR_HOLD_DFLT) fail("cr_hold_ctrl default");

    handle_term();
    helper = fork();
    if (helper == 0) { wait_for_term(); _exit(0); }
    if (cr_init() < 0 || cr_register_callback(callback, NULL, CR_THREAD_CONTEXT) < 0) { fail("setup"); return finish(); }
    /* BLCR (libcr.h, cr_core.c): the count before the change; below zero is ERANGE. */
    if (cr_inc_persist() != 0 || cr_dec_persist() != 1) fail("persist counts");
    if (cr_dec_persist() != -1 || errno != ERANGE) fail("cr_dec_persist below zero: want -1/ERANGE");
    /* BLCR (cr_request.c, CRI_CB_INFO_OR_RETURN(-1)): -1 with errno CR_ENOTCB. */
    if (cr_forward_checkpoint(CR_SCOPE_PROC, getpid()) != -1 || errno != CR_ENOTCB) fail("cr_forward_checkpoint outside a callback");
    ready();
    wait_for_term();
    if (forwarded != 0) fail("cr_forward_checkpoint in the callback returned %d", forwarded);
    int st;
    pid_t child = waitpid(-1, &st, WNOHANG);
    if (child != 0) fail("the forwarded helper is not back as a live child (waitpid %d)", child);
    kill(helper, SIGKILL);  /* same PID: this test restores original PIDs */
    waitpid(helper, &st, 0);
    return finish();
}
