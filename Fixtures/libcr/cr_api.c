/* libcr's argument and state checks and orders, as BLCR 0.8.6 has them:
 * - before the thread's cr_init(), cr_status, cr_enter_cs, cr_leave_cs,
 *   cr_tryenter_cs, cr_inc/dec_persist, cr_replace_callback (whatever
 *   its id: BLCR's stage0004) fail with -1 and CR_ENOINIT, and
 *   cr_register_hook gives CR_HOOK_FN_ERROR with CR_ENOINIT
 *   (cr_private.h: CRI_INFO_OR_RETURN; libcr.h documents CR_ENOINIT);
 * - cr_register_hook refuses CR_HOOK_FN_ERROR as a hook and events out of
 *   range with EINVAL (cr_core.c);
 * - thread-context callbacks run newest registered first (cr_core.c counts
 *   info->run.index down);
 * - a request that gave an fd names its file in the callbacks'
 *   cr_get_checkpoint_info()->dest (BLCR's kernel fills in the file's path);
 * - a request of one's own checkpoint is over when it returns: BLCR's
 *   kernel signals the caller as the call returns, and the callbacks run
 *   in its handler (stage0001); and once it is reaped no descriptor of
 *   libcr's is left open (BLCR's dup test scans every number);
 * - polling one's own request: 1 in the process that goes on, and in the
 *   restarted copy CR_POLL_CHKPT_ERR_POST (-2) with errno CR_ERESTARTED
 *   (cr_request.c: any failed reap is _POST).
 * Usage: cr_api IMAGE. Prints "original: PASS" or "restarted: PASS". */
#include <libcr.h>
#include <dirent.h>
#include <fcntl.h>
#include "fixture.h"

/* Descriptors open in this process (the directory's own not counted). */
static int open_descriptors(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n - 3;  /* ".", ".." and the directory's */
}

static volatile int order[3], calls;
static char dest[4096];

static int first(void *arg) {
    (void)arg;
    if (calls < 3) order[calls++] = 1;
    const struct cr_checkpoint_info *info = cr_get_checkpoint_info();
    if (info && info->dest) snprintf(dest, sizeof dest, "%s", info->dest);
    return cr_checkpoint(0) < 0;
}
static int second(void *arg) { (void)arg; if (calls < 3) order[calls++] = 2; return cr_checkpoint(0) < 0; }
static int third(void *arg) { (void)arg; if (calls < 3) order[calls++] = 3; return cr_checkpoint(0) < 0; }
static void hook(cr_hook_event_t event) { (void)event; }

#define EXPECT_NOINIT(call) do { errno = 0; if ((call) != -1 || errno != CR_ENOINIT) fail(#call " before cr_init: errno %d, want CR_ENOINIT", errno); } while (0)

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    EXPECT_NOINIT(cr_status());
    EXPECT_NOINIT(cr_enter_cs(0));
    EXPECT_NOINIT(cr_leave_cs(0));
    EXPECT_NOINIT(cr_tryenter_cs(0));
    EXPECT_NOINIT(cr_inc_persist());
    EXPECT_NOINIT(cr_dec_persist());
    EXPECT_NOINIT(cr_replace_callback(0, third, NULL, CR_SIGNAL_CONTEXT));
    errno = 0;
    if (cr_register_hook(CR_HOOK_CONT_NO_CALLBACKS, hook) != CR_HOOK_FN_ERROR || errno != CR_ENOINIT) fail("cr_register_hook before cr_init: errno %d", errno);

    if (cr_init() < 0) { fail("cr_init: %s", strerror(errno)); return finish(); }
    if (cr_status() != CR_STATE_IDLE) fail("cr_status %d after cr_init", cr_status());
    errno = 0;
    if (cr_register_hook(CR_HOOK_CONT_SIGNAL_CONTEXT, CR_HOOK_FN_ERROR) != CR_HOOK_FN_ERROR || errno != EINVAL) fail("CR_HOOK_FN_ERROR as a hook: errno %d, want EINVAL", errno);
    errno = 0;
    if (cr_register_hook((cr_hook_event_t)CR_NUM_HOOKS, hook) != CR_HOOK_FN_ERROR || errno != EINVAL) fail("event out of range: errno %d", errno);
    if (cr_register_hook(CR_HOOK_CONT_THREAD_CONTEXT, hook) != NULL) fail("the first hook replaced something");

    if (cr_register_callback(first, NULL, CR_THREAD_CONTEXT) < 0 || cr_register_callback(second, NULL, CR_THREAD_CONTEXT) < 0 ||
        cr_register_callback(third, NULL, CR_THREAD_CONTEXT) < 0) { fail("cr_register_callback"); return finish(); }
    int descriptors = open_descriptors();  /* (the image's own closes after the request) */
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_checkpoint_args_t a;
    cr_initialize_checkpoint_args_t(&a);
    a.cr_scope = CR_SCOPE_PROC;
    a.cr_fd = fd;
    cr_checkpoint_handle_t h;
    if (cr_request_checkpoint(&a, &h) != 0) { fail("cr_request_checkpoint: %s", strerror(errno)); return finish(); }
    int ranInRequest = calls;
    close(fd);
    struct timeval limit = { 60, 0 };
    errno = 0;
    int r = cr_poll_checkpoint(&h, &limit);
    if (ranInRequest != 3) fail("cr_request_checkpoint of the caller returned before its callbacks ran (%d of 3)", ranInRequest);
    if (r == 1 && open_descriptors() != descriptors) fail("%d descriptors open after the reap, %d before the request", open_descriptors(), descriptors);
    if (r == 1) {
        if (calls != 3 || order[0] != 3 || order[1] != 2 || order[2] != 1)
            fail("thread-context callbacks ran in order %d %d %d, want the newest first: 3 2 1", order[0], order[1], order[2]);
        char want[4096];
        if (!realpath(argv[1], want) || strcmp(dest, want) != 0) fail("cr_get_checkpoint_info()->dest is '%s', want '%s'", dest, want);
        printf("original: ");
    } else if (r == CR_POLL_CHKPT_ERR_POST && errno == CR_ERESTARTED) {
        printf("restarted: ");
    } else {
        fail("cr_poll_checkpoint gave %d, errno %d (%s): want 1, or in the restarted copy %d with CR_ERESTARTED",
             r, errno, cr_strerror(errno), CR_POLL_CHKPT_ERR_POST);
    }
    return finish();
}
