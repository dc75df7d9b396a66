/* Files that moved between checkpoint and restart (cr_restart --relocate):
 * the cwd, an open file at an offset and a private mapping of it all live in
 * DIR/data, which the test renames to DIR/moved. Usage: relocate DIR */
#include "fixture.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>

static int ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/data", argv[1]);
    mkdir(dir, 0700);
    if (chdir(dir) != 0) { fail("chdir"); return finish(); }
    int fd = open("data.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "relocated data", 14) != 14 || lseek(fd, 4, SEEK_SET) != 4) { fail("data.txt"); return finish(); }
    const char *map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) { fail("mmap"); return finish(); }

    ready();
    wait_for_term();

    char cwd[PATH_MAX], link[64], path[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) || !ends_with(cwd, "/moved")) fail("cwd is %s, want .../moved", cwd);
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    path[n < 0 ? 0 : n] = 0;
    if (!ends_with(path, "/moved/data.txt")) fail("fd is %s, want .../moved/data.txt", path);
    char rest[16] = { 0 };
    if (read(fd, rest, 10) != 10 || strcmp(rest, "cated data") != 0) fail("read at offset 4: \"%s\"", rest);
    if (memcmp(map, "relocated data", 14) != 0) fail("the mapping of data.txt reads \"%.14s\"", map);
    return finish();
}
