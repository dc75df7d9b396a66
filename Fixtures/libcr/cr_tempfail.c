/* A callback that cancels the checkpoint: TEMP_FAILURE (the process goes on,
 * cr_checkpoint exits 50, or the user code), or PERM_FAILURE (the process
 * is killed, exit 51). Usage: cr_tempfail temp|perm [CODE] */
#include <libcr.h>
#include "fixture.h"

static int flags;
static volatile int result = 1;

static int callback(void *arg) {
    (void)arg;
    result = cr_checkpoint(flags);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int code = argc > 2 ? atoi(argv[2]) : 0;
    flags = strcmp(argv[1], "perm") == 0 ? CR_CHECKPOINT_PERM_FAILURE_CODE(code) : CR_CHECKPOINT_TEMP_FAILURE_CODE(code);
    if (cr_init() < 0 || cr_register_callback(callback, NULL, CR_THREAD_CONTEXT) < 0) { fail("setup"); return finish(); }
    ready();
    wait_for_term();
    int want = code ? -code : -CR_ETEMPFAIL;
    if (result != want) fail("cr_checkpoint returned %d, want %d", result, want);
    return finish();
}
