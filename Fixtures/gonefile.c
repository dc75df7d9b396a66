/* A log the process writes to is deleted while it is checkpointed; the
 * restart goes on with --missing-files: "recreate" gives an empty file at
 * the old path, at the saved offset (the next write lands there, after a
 * hole), "devnull" gives /dev/null. Usage: gonefile DIR recreate|devnull */
#include "fixture.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/app.log", argv[1]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "before\n", 7) != 7) { fail("open/write %s", path); return finish(); }
    ready();
    wait_for_term();
    struct stat st;
    if (fstat(fd, &st) != 0) fail("fstat");
    if (write(fd, "after\n", 6) != 6) fail("write after restart: %s", strerror(errno));
    if (strcmp(argv[2], "devnull") == 0) {
        if (!S_ISCHR(st.st_mode)) fail("fd is not /dev/null (mode %o)", st.st_mode);
    } else {
        struct stat now;
        if (!S_ISREG(st.st_mode) || stat(path, &now) != 0 || now.st_ino != st.st_ino) fail("%s was not made again as the descriptor's file", path);
        else if (now.st_size != 13) fail("%s is %lld bytes, want 13 (a 7-byte hole, then the new line)", path, (long long)now.st_size);
    }
    return finish();
}
