/* A working directory removed while the process is in it: `deletedcwd DIR`.
 * After restart the process is still in a deleted directory of that name
 * (/proc/self/cwd says "DIR/gone (deleted)", "." has no links) and can still
 * reach its parent through "..". */
#include "fixture.h"
#include <limits.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: deletedcwd DIR\n"); return 2; }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/gone", argv[1]);
    rmdir(dir);
    if (mkdir(dir, 0700) != 0 || chdir(dir) != 0 || rmdir(dir) != 0) { perror(dir); return 2; }
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s (deleted)", dir);
    ready();
    wait_for_term();
    char got[PATH_MAX] = {0};
    ssize_t n = readlink("/proc/self/cwd", got, sizeof got - 1);
    if (n < 0 || strcmp(got, want) != 0) fail("cwd is '%s', wanted '%s'", got, want);
    struct stat st;
    if (stat(".", &st) != 0 || st.st_nlink != 0) fail("'.' is not a deleted directory (links %lu)", (unsigned long)st.st_nlink);
    if (access(dir, F_OK) == 0) fail("%s exists again after the restart", dir);
    struct stat parent;
    if (stat("..", &parent) != 0 || !S_ISDIR(parent.st_mode)) fail("'..' is gone");
    return finish();
}
