/* A directory opened, then removed with its parent: after restart the
 * descriptor is still an open, removed directory (fstat: a directory with
 * no links), with its mode (MODE in octal, or one of four by PID) and owner, the process's.
 * Usage: deleteddir DIR [MODE] */
#include "fixture.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char parent[4096], sub[4200];
    snprintf(parent, sizeof parent, "%s/gone", argv[1]);
    snprintf(sub, sizeof sub, "%s/sub", parent);
    mkdir(parent, 0700);
    if (mkdir(sub, 0700) != 0) { perror("mkdir"); return 2; }
    int fd = open(sub, O_DIRECTORY | O_RDONLY);
    static const mode_t modes[] = { 0700, 0751, 0500, 0 };
    mode_t mode = argc > 2 ? (mode_t)strtol(argv[2], NULL, 8) : modes[getpid() % 4];
    if (fd < 0 || chmod(sub, mode) != 0 || rmdir(sub) != 0 || rmdir(parent) != 0) { perror("open/rmdir"); return 2; }
    ready();
    wait_for_term();
    struct stat st;
    if (fstat(fd, &st) != 0) fail("fstat after restart: %s", strerror(errno));
    else if (!S_ISDIR(st.st_mode)) fail("fd is no longer a directory (mode 0%o)", st.st_mode);
    else if (st.st_nlink != 0) fail("the directory is not removed (%lu links)", (unsigned long)st.st_nlink);
    else if ((st.st_mode & 07777) != mode || st.st_uid != geteuid() || st.st_gid != getegid())
        fail("the directory has mode 0%o owner %u:%u, want 0%o %u:%u", st.st_mode & 07777, st.st_uid, st.st_gid, mode, geteuid(), getegid());
    if (access(parent, F_OK) == 0) fail("the restart left %s behind", parent);
    return finish();
}
