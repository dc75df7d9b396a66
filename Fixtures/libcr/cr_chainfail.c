/* A callback that cancels a checkpoint ends the chain there (BLCR's
 * failed_cb2, cr_core.c): the older callbacks do not run, and each newer
 * one's cr_checkpoint() returns the same failure the requester gets.
 * Three thread-context callbacks, newest first: outer calls
 * cr_checkpoint(0), middle cancels, oldest must not run.
 *   cr_chainfail temp|omit|code   prints PASS
 *   cr_chainfail perm             the middle callback's PERM_FAILURE kills
 *                                 the process inside its cr_checkpoint():
 *                                 nothing after it runs (BLCR's kernel
 *                                 sends SIGKILL in the call). */
#include <libcr.h>
#include <fcntl.h>
#include "fixture.h"

static int cancel, oldestRan;
static volatile int outerResult = 1, middleResult = 1;

static int oldest(void *arg) { (void)arg; oldestRan = 1; return cr_checkpoint(0) < 0; }
static int middle(void *arg) {
    (void)arg;
    middleResult = cr_checkpoint(cancel);
    if (cancel & CR_CHECKPOINT_PERM_FAILURE) { printf("RETURNED from PERM_FAILURE\n"); fflush(stdout); }
    return 0;
}
static int outer(void *arg) { (void)arg; outerResult = cr_checkpoint(0); return 0; }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int want = 0, wantErrno = 0;
    if (strcmp(argv[1], "temp") == 0) { cancel = CR_CHECKPOINT_TEMP_FAILURE; want = -CR_ETEMPFAIL; wantErrno = CR_ETEMPFAIL; }
    else if (strcmp(argv[1], "omit") == 0) { cancel = CR_CHECKPOINT_OMIT; want = -CR_EOMITTED; wantErrno = ESRCH; }
    else if (strcmp(argv[1], "code") == 0) { cancel = CR_CHECKPOINT_TEMP_FAILURE_CODE(911); want = -911; wantErrno = 911; }
    else if (strcmp(argv[1], "perm") == 0) { cancel = CR_CHECKPOINT_PERM_FAILURE; }
    else return 2;
    if (cr_init() < 0 || cr_register_callback(oldest, NULL, CR_THREAD_CONTEXT) < 0 ||
        cr_register_callback(middle, NULL, CR_THREAD_CONTEXT) < 0 || cr_register_callback(outer, NULL, CR_THREAD_CONTEXT) < 0) {
        fail("setup: %s", strerror(errno));
        return finish();
    }
    cr_checkpoint_args_t a;
    cr_initialize_checkpoint_args_t(&a);
    a.cr_scope = CR_SCOPE_PROC;
    a.cr_fd = open("/dev/null", O_WRONLY);
    cr_checkpoint_handle_t h;
    if (cr_request_checkpoint(&a, &h) != 0) { fail("cr_request_checkpoint: %s", strerror(errno)); return finish(); }
    struct timeval limit = { 60, 0 };
    errno = 0;
    int r = cr_poll_checkpoint(&h, &limit);
    if (r != CR_POLL_CHKPT_ERR_POST || errno != wantErrno) fail("the request: poll %d errno %d (%s), want %d with errno %d", r, errno, cr_strerror(errno), CR_POLL_CHKPT_ERR_POST, wantErrno);
    if (middleResult != want) fail("the cancelling callback's cr_checkpoint gave %d, want %d", middleResult, want);
    if (outerResult != want) fail("the newer callback's cr_checkpoint gave %d, want the same failure %d", outerResult, want);
    if (oldestRan) fail("the older callback ran after the checkpoint was cancelled");
    return finish();
}
