/* CR_CHKPT_PROHIBIT_SELF holds through cr_forward_checkpoint: a child's
 * callback forwards the checkpoint to its parent, the requester, which
 * asked not to be checkpointed. As BLCR's edeadlk test has it, the forward
 * itself fails in the callback with EDEADLK (the kernel checks it in the
 * call, cr_chkpt_req.c do_chkpt_fwd) and the child's checkpoint goes on.
 * Also checked in the call, as BLCR's forward test has them: a forward to
 * init fails (EPERM), to no process (ESRCH), to a process in the
 * callbacks of another checkpoint (EBUSY); one to a process that exists
 * is taken. Prints PASS. Usage: cr_prohibit IMAGE */
#include <libcr.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include "fixture.h"

static pid_t parent, busy;
static int report;

/* Each forward's result, as -1/errno or 0, written to the parent. */
static void forward(int scope, pid_t target) {
    errno = 0;
    int r = cr_forward_checkpoint(scope, target);
    int e = r < 0 ? errno : 0;
    if (write(report, &e, sizeof e) != sizeof e) _exit(2);
}

static int callback(void *arg) {
    (void)arg;
    forward(CR_SCOPE_PROC, parent);   /* the requester: EDEADLK */
    forward(CR_SCOPE_TREE, 1);        /* init: EPERM */
    forward(CR_SCOPE_PROC, 0x3ffffff0); /* nobody: ESRCH */
    forward(CR_SCOPE_PROC, busy);     /* in another checkpoint's callbacks: EBUSY */
    forward(CR_SCOPE_PROC, getpid()); /* itself: taken */
    return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

/* Whether libcr's thread in `pid` serves a checkpoint (it is named so then). */
static int agent_serving(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d) return 0;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d)); ) {
        if (e->d_name[0] == '.') continue;
        char comm[400], name[64] = "";
        snprintf(comm, sizeof comm, "%s/%s/comm", path, e->d_name);
        int fd = open(comm, O_RDONLY);
        if (fd < 0) continue;
        ssize_t n = read(fd, name, sizeof name - 1);
        close(fd);
        name[n > 0 ? n : 0] = 0;
        found = strstr(name, "busy") != NULL;
    }
    closedir(d);
    return found;
}

/* A process held inside its own callbacks by a checkpoint that waits. */
static int hold(void *arg) { (void)arg; pause(); return 0; }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    parent = getpid();
    int go[2], results[2];
    if (pipe(go) != 0 || pipe(results) != 0) return 2;
    busy = fork();
    if (busy == 0) {
        if (cr_init() < 0 || cr_register_callback(hold, NULL, CR_THREAD_CONTEXT) < 0) _exit(2);
        for (;;) pause();
    }
    usleep(100000);
    cr_checkpoint_args_t b;
    cr_initialize_checkpoint_args_t(&b);
    b.cr_scope = CR_SCOPE_PROC;
    b.cr_target = busy;
    b.cr_fd = open("/dev/null", O_WRONLY);
    cr_checkpoint_handle_t held;
    if (cr_request_checkpoint(&b, &held) != 0) { fail("holding request: %s", strerror(errno)); return finish(); }
    pid_t child = fork();
    if (child == 0) {
        report = results[1];
        if (cr_init() < 0 || cr_register_callback(callback, NULL, CR_THREAD_CONTEXT) < 0) _exit(2);
        char c = 'r';
        if (write(go[1], &c, 1) != 1) _exit(2);
        for (;;) pause();
    }
    char c;
    if (read(go[0], &c, 1) != 1) { fail("child did not start"); return finish(); }
    /* The holding checkpoint has reached the other process's callbacks. */
    int serving = 0;
    for (int tries = 0; tries < 2000 && !serving; tries++) {
        serving = agent_serving(busy);
        if (!serving) usleep(5000);
    }
    if (!serving) fail("the holding checkpoint did not reach process %d's callbacks", busy);
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
    if (r != 1) fail("the child's checkpoint: poll %d, errno %d (%s), want 1: a refused forward does not fail it", r, errno, cr_strerror(errno));
    const int want[5] = { EDEADLK, EPERM, ESRCH, EBUSY, 0 };
    const char *what[5] = { "to the requester", "to init", "to nobody", "to a busy process", "to itself" };
    for (int k = 0; k < 5; k++) {
        int e = -1;
        if (read(results[0], &e, sizeof e) != sizeof e) { fail("no result for the forward %s", what[k]); break; }
        if (e != want[k]) fail("the forward %s: errno %d (%s), want %d", what[k], e, cr_strerror(e), want[k]);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    kill(busy, SIGKILL);
    waitpid(busy, NULL, 0);
    struct timeval brief = { 10, 0 };
    (void)cr_poll_checkpoint(&held, &brief);
    return finish();
}
