/* A restored orphan's parent is init again (BLCR tests/orphan.c: a process
 * group checkpoint whose member was re-parented to init sees getppid() == 1
 * after restart, as it did before). This process leads a group, forks a
 * child that forks the orphan and exits. Checkpoint the group (-g) with
 * nothing above it acting as a subreaper. Usage: cr_orphan (TERM reports). */
#include <libcr.h>
#include <sys/wait.h>
#include "fixture.h"

/* The orphan answers each byte with its parent's PID. */
static void serve(int in, int out) {
    char c;
    while (read(in, &c, 1) == 1) {
        pid_t parent = getppid();
        if (write(out, &parent, sizeof parent) != sizeof parent) _exit(2);
    }
    _exit(0);
}

static pid_t ask(int to, int from) {
    pid_t parent = -1;
    if (write(to, "?", 1) != 1 || read(from, &parent, sizeof parent) != sizeof parent) return -1;
    return parent;
}

int main(void) {
    int request[2], answer[2];
    if (cr_init() < 0 || setpgid(0, 0) != 0 || pipe(request) != 0 || pipe(answer) != 0) { fail("setup: %s", strerror(errno)); return finish(); }
    handle_term();
    pid_t child = fork();
    if (child == 0) {
        pid_t orphan = fork();
        if (orphan == 0) serve(request[0], answer[1]);
        if (write(answer[1], &orphan, sizeof orphan) != sizeof orphan) _exit(2);
        _exit(0);
    }
    pid_t orphan = -1;
    if (read(answer[0], &orphan, sizeof orphan) != sizeof orphan) { fail("no orphan"); return finish(); }
    waitpid(child, NULL, 0);
    pid_t before = ask(request[1], answer[0]);
    if (before != 1) fail("before the checkpoint the orphan's parent is %d, not init (a subreaper above this test?)", before);
    ready();
    wait_for_term();
    pid_t after = ask(request[1], answer[0]);
    if (after != 1) fail("after restart the orphan's parent is %d, want init (1)", after);
    kill(orphan, SIGKILL);
    return finish();
}
