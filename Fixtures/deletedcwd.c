/* A working directory removed while the process is in it: `deletedcwd DIR`.
 * After restart the process is still in a deleted directory of that name
 * (/proc/self/cwd says "DIR/gone (deleted)", "." has no links) and can still
 * reach its parent through "..". The directory keeps its mode (MODE in octal,
 * or one of four by PID) and its owner, the process's: a restart by root
 * makes it alike. Usage: deletedcwd DIR [MODE] */
#include "fixture.h"
#include <limits.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: deletedcwd DIR [MODE]\n"); return 2; }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/gone", argv[1]);
    rmdir(dir);
    static const mode_t modes[] = { 0700, 0711, 0750, 0500 };
    mode_t mode = argc > 2 ? (mode_t)strtol(argv[2], NULL, 8) : modes[getpid() % 4];
    if (mkdir(dir, 0700) != 0 || chdir(dir) != 0 || chmod(dir, mode) != 0 || rmdir(dir) != 0) { perror(dir); return 2; }
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s (deleted)", dir);
    ready();
    wait_for_term();
    char got[PATH_MAX] = {0};
    ssize_t n = readlink("/proc/self/cwd", got, sizeof got - 1);
    if (n < 0 || strcmp(got, want) != 0) fail("cwd is '%s', wanted '%s'", got, want);
    struct stat st;
    if (stat(".", &st) != 0) fail("stat('.'): %s", strerror(errno));
    else if (st.st_nlink != 0) fail("'.' is not a deleted directory (links %lu)", (unsigned long)st.st_nlink);
    else if ((st.st_mode & 07777) != mode || st.st_uid != geteuid() || st.st_gid != getegid())
        fail("'.' has mode 0%o owner %u:%u, want 0%o %u:%u", st.st_mode & 07777, st.st_uid, st.st_gid, mode, geteuid(), getegid());
    if (access(dir, F_OK) == 0) fail("%s exists again after the restart", dir);
    struct stat parent;
    if (stat("..", &parent) != 0 || !S_ISDIR(parent.st_mode)) fail("'..' is gone");
    return finish();
}
