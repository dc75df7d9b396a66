/* A request completes only once the callbacks have returned: a callback
 * that works on after its cr_checkpoint() (here half a second) has
 * finished when the process's own poll of the request returns, and
 * cr_status() is IDLE then (BLCR's request completes after every callback
 * reports CR_OP_HAND_DONE). Restarted from IMAGE, the copy's own poll of
 * the request (failed with CR_ERESTARTED there) must likewise return only
 * once the callback, going on after its cr_checkpoint() there, has returned.
 * Usage: cr_done IMAGE */
#include <libcr.h>
#include <fcntl.h>
#include "fixture.h"

static volatile int after;

static int callback(void *arg) {
    (void)arg;
    int r = cr_checkpoint(CR_CHECKPOINT_READY);
    usleep(500000);
    after = 1;
    return r < 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (cr_init() < 0 || cr_register_callback(callback, NULL, CR_THREAD_CONTEXT) < 0) { fail("setup"); return finish(); }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_checkpoint_args_t a;
    cr_initialize_checkpoint_args_t(&a);
    a.cr_scope = CR_SCOPE_PROC;
    a.cr_fd = fd;
    cr_checkpoint_handle_t h;
    if (cr_request_checkpoint(&a, &h) != 0) { fail("cr_request_checkpoint: %s", strerror(errno)); return finish(); }
    close(fd);
    struct timeval limit = { 30, 0 };
    int r = cr_poll_checkpoint(&h, &limit);
    int e = errno, done = after, status = cr_status();
    int restarted = r == -2 && e == CR_ERESTARTED;
    if (r != 1 && !restarted) fail("cr_poll_checkpoint gave %d (%s)", r, cr_strerror(e));
    if (restarted) printf("the restarted copy\n");
    if (!done) fail("the request completed before the callback had returned");
    if (status != CR_STATE_IDLE) fail("cr_status() is %d when the request completed, want IDLE", status);
    return finish();
}
