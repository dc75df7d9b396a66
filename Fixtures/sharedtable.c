/* A child sharing this process's file descriptor table (CLONE_FILES), and
 * a working directory removed while a descriptor of it is open too. After
 * restart a file the parent opens is there for the child (one table), and
 * the working directory is the very directory the descriptor holds.
 * Usage: sharedtable DIR */
#define _GNU_SOURCE
#include "fixture.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define SHARED_FD 77
static int go[2], done[2];

static int child(void *arg) {
    (void)arg;
    char c;
    if (read(go[0], &c, 1) != 1) return 2;
    /* The parent opened SHARED_FD after restart: in one table it is here too. */
    c = fcntl(SHARED_FD, F_GETFD) >= 0 ? 'y' : 'n';
    return write(done[1], &c, 1) == 1 ? 0 : 3;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    if (pipe(go) != 0 || pipe(done) != 0) { fail("pipe"); return finish(); }
    static char stack[65536];
    pid_t pid = clone(child, stack + sizeof stack, CLONE_FILES | SIGCHLD, NULL);
    if (pid < 0) { fail("clone: %s", strerror(errno)); return finish(); }
    char gone[256];
    snprintf(gone, sizeof gone, "%s/gone-dir", dir);
    mkdir(gone, 0700);
    int held = open(gone, O_DIRECTORY | O_RDONLY);
    if (held < 0 || chdir(gone) != 0 || rmdir(gone) != 0) fail("removed working directory");

    ready();
    wait_for_term();

    struct stat a, b;
    if (fstat(held, &a) != 0 || stat("/proc/self/cwd", &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
        fail("the working directory is not the directory the descriptor holds");
    int f = open("/proc/self/status", O_RDONLY);
    if (f < 0 || dup2(f, SHARED_FD) != SHARED_FD) fail("dup2");
    char c = 'g';
    if (write(go[1], &c, 1) != 1 || read(done[0], &c, 1) != 1) fail("the child does not answer");
    else if (c != 'y') fail("a descriptor opened after restart is not in the child's table: the table is not shared");
    int status = 0;
    /* wait(), not waitpid(pid): with new PIDs the child's is another. */
    if (wait(&status) <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("child status %x", status);
    return finish();
}
