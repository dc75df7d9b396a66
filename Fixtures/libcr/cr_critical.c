/* A critical section defers a self-request until it is left; a request that
 * includes the requester is refused with CR_CHKPT_PROHIBIT_SELF; a callback
 * asking TEMP_FAILURE (with a user code) cancels the checkpoint and the
 * request's reap reports it. Usage: cr_critical DIR */
#include <libcr.h>
#include <fcntl.h>
#include <time.h>
#include "fixture.h"

static volatile int ran, fail_with;
static double ran_at;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static int callback(void *arg) {
    (void)arg;
    ran++;
    ran_at = now();
    int r = cr_checkpoint(fail_with ? CR_CHECKPOINT_TEMP_FAILURE_CODE(fail_with) : CR_CHECKPOINT_READY);
    if (fail_with && r != -fail_with) fail("TEMP_FAILURE_CODE(%d): cr_checkpoint returned %d", fail_with, r);
    return 0;
}

static int request(const char *path, cr_checkpoint_handle_t *h, unsigned flags) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_checkpoint_args_t a;
    cr_initialize_checkpoint_args_t(&a);
    a.cr_scope = CR_SCOPE_PROC;
    a.cr_fd = fd;
    a.cr_flags = flags;
    int r = cr_request_checkpoint(&a, h);
    close(fd);
    return r;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/self.img", argv[1]);
    cr_client_id_t id = cr_init();
    if (id < 0 || cr_register_callback(callback, NULL, CR_THREAD_CONTEXT) < 0) { fail("setup"); return finish(); }
    cr_checkpoint_handle_t h;
    if (request(path, &h, CR_CHKPT_PROHIBIT_SELF) != -1 || errno != EDEADLK) fail("PROHIBIT_SELF: want EDEADLK");

    if (cr_enter_cs(id) != 0) fail("cr_enter_cs");
    /* A self-request that never reaches libcr (its tool refuses signal 999):
     * PENDING at once, as BLCR's kernel marks it, and IDLE again once the
     * request has ended, so critical sections do not wait for it forever. */
    cr_checkpoint_args_t bad;
    cr_initialize_checkpoint_args_t(&bad);
    bad.cr_scope = CR_SCOPE_PROC;
    bad.cr_fd = 1;
    bad.cr_signal = 999;
    if (cr_request_checkpoint(&bad, &h) != 0) { fail("request with a bad signal: %s", strerror(errno)); return finish(); }
    if (cr_status() != CR_STATE_PENDING) fail("right after a self-request cr_status() is %d, want PENDING (%d)", cr_status(), CR_STATE_PENDING);
    if (cr_wait_checkpoint(&h, NULL) <= 0) fail("cr_wait_checkpoint on the refused request");
    for (int i = 0; i < 200 && cr_status() != CR_STATE_IDLE; i++) usleep(10000);
    if (cr_status() != CR_STATE_IDLE) fail("a refused self-request left cr_status() at %d", cr_status());
    if (cr_reap_checkpoint(&h) >= 0) fail("the request with signal 999 succeeded");

    if (request(path, &h, 0) != 0) { fail("cr_request_checkpoint: %s", strerror(errno)); return finish(); }
    if (cr_status() != CR_STATE_PENDING) fail("right after a self-request cr_status() is %d, want PENDING while in a critical section", cr_status());
    usleep(300000);
    struct timeval zero = { 0, 0 };
    if (ran) fail("the callback ran inside the critical section");
    if (cr_wait_checkpoint(&h, &zero) != 0) fail("the checkpoint finished inside the critical section");
    if (cr_tryenter_cs(id) <= 0) fail("cr_tryenter_cs while a checkpoint is pending should say it would block");
    double left = now();
    if (cr_leave_cs(id) != 0) fail("cr_leave_cs");
    if (!ran || ran_at < left) fail("leaving the critical section did not let the checkpoint run first");
    if (cr_wait_checkpoint(&h, NULL) <= 0) fail("cr_wait_checkpoint");
    char log[256];
    cr_log_checkpoint(&h, sizeof log, log);
    if (cr_reap_checkpoint(&h) <= 0) fail("cr_reap_checkpoint: errno %d (%s) log %s", errno, cr_strerror(errno), log);
    if (cr_status() != CR_STATE_IDLE) fail("cr_status() %d after the checkpoint", cr_status());

    fail_with = 7;
    if (request(path, &h, 0) != 0) fail("second request");
    struct timeval ten = { 10, 0 };
    if (cr_poll_checkpoint(&h, &ten) >= 0 || errno != 7) fail("TEMP_FAILURE_CODE(7): poll gives errno %d, want 7", errno);
    /* A code above 255 arrives whole (BLCR's kernel hands it to the requester as is). */
    fail_with = 911;
    if (request(path, &h, 0) != 0) fail("third request");
    if (cr_poll_checkpoint(&h, &ten) >= 0 || errno != 911) fail("TEMP_FAILURE_CODE(911): poll gives errno %d, want 911", errno);
    fail_with = 0;
    printf("callbacks ran %d times\n", ran);
    return finish();
}
