/* A pipe root made, with bytes unread, held (both ends) by a process that
 * then became an unprivileged user, the way a root shell's pipes reach a
 * user's job. The pipe cannot be opened anew through /proc by that user,
 * yet its owner may checkpoint the process: after restart the bytes are
 * still in the pipe and it still works. With LOG, stderr is a file only
 * root may open (a root shell's 2>LOG): the restart hands the process its
 * own stderr instead, which must work.
 * Usage: rootpipe UID GID [LOG] (started as root) */
#include "fixture.h"
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int p[2];
    if (pipe(p) != 0 || write(p[1], "made by root", 12) != 12) { fail("pipe"); return finish(); }
    if (argc > 3) {
        int log = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log < 0 || dup2(log, 2) != 2) { fail("%s: %s", argv[3], strerror(errno)); return finish(); }
        close(log);
    }
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
    if (argc > 3 && write(2, "", 0) != 0) fail("stderr does not work after restart: %s", strerror(errno));
    if (write(p[1], "again", 5) != 5 || read(p[0], buf, sizeof buf) != 5 || memcmp(buf, "again", 5) != 0) fail("the pipe no longer works");
    return finish();
}
