/* CR_CHKPT_PROHIBIT_SELF holds through cr_forward_checkpoint: a child's
 * callback forwards the checkpoint to its parent, the requester, which
 * asked not to be checkpointed; the request fails with EDEADLK (BLCR's
 * kernel refuses a forward that reaches a requester with
 * CR_CHKPT_PROHIBIT_SELF; libcr.h documents EDEADLK for the flag). */
#include <libcr.h>
#include <fcntl.h>
#include <sys/wait.h>
#include "fixture.h"

static pid_t parent;

static int forward(void *arg) {
    (void)arg;
    cr_forward_checkpoint(CR_SCOPE_PROC, parent);
    return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    parent = getpid();
    int go[2];
    if (pipe(go) != 0) return 2;
    pid_t child = fork();
    if (child == 0) {
        if (cr_init() < 0 || cr_register_callback(forward, NULL, CR_THREAD_CONTEXT) < 0) _exit(2);
        char c = 'r';
        if (write(go[1], &c, 1) != 1) _exit(2);
        for (;;) pause();
    }
    char c;
    if (read(go[0], &c, 1) != 1) { fail("child did not start"); return finish(); }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_checkpoint_args_t a;
    cr_initialize_checkpoint_args_t(&a);
    a.cr_scope = CR_SCOPE_PROC;
    a.cr_target = child;
    a.cr_fd = fd;
    a.cr_flags = CR_CHKPT_PROHIBIT_SELF;
    cr_checkpoint_handle_t h;
    if (cr_request_checkpoint(&a, &h) != 0) { fail("cr_request_checkpoint: %s", strerror(errno)); return finish(); }
    close(fd);
    struct timeval limit = { 30, 0 };
    errno = 0;
    int r = cr_poll_checkpoint(&h, &limit);
    if (r >= 0 || errno != EDEADLK) fail("a forward to the requester: poll %d, errno %d (%s), want EDEADLK", r, errno, cr_strerror(errno));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return finish();
}
