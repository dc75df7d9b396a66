/* A pipe root made, with bytes unread, held (both ends) by a process that
 * then became an unprivileged user, the way a root shell's pipes reach a
 * user's job. The pipe cannot be opened anew through /proc by that user,
 * yet its owner may checkpoint the process: after restart the bytes are
 * still in the pipe and it still works.
 * Usage: rootpipe UID GID (started as root) */
#include "fixture.h"
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int p[2];
    if (pipe(p) != 0 || write(p[1], "made by root", 12) != 12) { fail("pipe"); return finish(); }
    if (setgroups(0, NULL) != 0 || setgid((gid_t)atoi(argv[2])) != 0 || setuid((uid_t)atoi(argv[1])) != 0) {
        fail("becoming uid %s: %s", argv[1], strerror(errno));
        return finish();
    }
    prctl(PR_SET_DUMPABLE, 1);  /* changing uid cleared it; the user may trace its own process */
    ready();
    wait_for_term();
    char buf[32] = { 0 };
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    ssize_t n = read(p[0], buf, sizeof buf);
    if (n != 12 || memcmp(buf, "made by root", 12) != 0) fail("read %zd bytes \"%s\", want \"made by root\"", n, buf);
    if (write(p[1], "again", 5) != 5 || read(p[0], buf, sizeof buf) != 5 || memcmp(buf, "again", 5) != 0) fail("the pipe no longer works");
    return finish();
}
