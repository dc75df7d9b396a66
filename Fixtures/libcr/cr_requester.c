/* After a restart asked for with cr_request_restart(), the requester is the
 * process that asked (BLCR: the caller restarts; MPICH's Hydra names files
 * by it): cr_get_restart_info()->requester and cr_checkpoint()'s return are
 * that process, the restored one's parent. Exits 0 then, 3 otherwise;
 * until a restart it waits. Usage: cr_requester */
#include <libcr.h>
#include "fixture.h"

static volatile int outcome = -1;

static int callback(void *arg) {
    (void)arg;
    int r = cr_checkpoint(0);
    if (r > 0) {
        const struct cr_restart_info *ri = cr_get_restart_info();
        pid_t parent = getppid();
        if (ri && ri->requester == parent && r == parent) outcome = 0;
        else {
            fprintf(stderr, "cr_requester: requester %d, cr_checkpoint gave %d, parent %d\n", ri ? ri->requester : -1, r, parent);
            outcome = 3;
        }
    }
    return 0;
}

int main(void) {
    if (cr_init() < 0 || cr_register_callback(callback, NULL, CR_THREAD_CONTEXT) < 0) { fail("cr_init: %s", strerror(errno)); return finish(); }
    ready();
    while (outcome < 0) usleep(10000);
    return outcome;
}
