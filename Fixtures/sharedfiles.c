/* Open files inherited across fork stay one open file after restart: the
 * child's write moves the parent's offset, its eventfd write reaches the
 * parent, and an O_NONBLOCK it sets on a shared pipe end is the parent's too.
 * Usage: sharedfiles DIR */
#include "fixture.h"
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/shared.txt", argv[1]);
    int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int e = eventfd(0, EFD_NONBLOCK);
    int p[2];
    if (f < 0 || e < 0 || pipe(p) != 0 || write(f, "0123", 4) != 4) { fail("setup"); return finish(); }
    handle_term();
    pid_t child = fork();
    if (child == 0) {
        wait_for_term();
        if (write(f, "child", 5) != 5) fail("child: write");
        uint64_t three = 3;
        if (write(e, &three, 8) != 8) fail("child: eventfd write");
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        return finish();
    }
    usleep(100000);
    ready();
    wait_for_term();
    int st;
    if (waitpid(-1, &st, 0) <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) fail("child failed");
    off_t at = lseek(f, 0, SEEK_CUR);
    if (at != 9) fail("the parent's offset is %ld, want 9: the child's file is another open file", (long)at);
    uint64_t v = 0;
    if (read(e, &v, 8) != 8 || v != 3) fail("the child's eventfd write did not reach the parent (%lu)", (unsigned long)v);
    if (!(fcntl(p[0], F_GETFL) & O_NONBLOCK)) fail("O_NONBLOCK set by the child on the shared pipe end is not the parent's");
    return finish();
}
