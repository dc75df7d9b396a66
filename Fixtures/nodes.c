/* Device nodes and symlinks held open: a symlink held through
 * O_PATH|O_NOFOLLOW and then removed, another still there, and (as root,
 * who may mknod) a copy of /dev/null's node opened and removed, and one
 * of /dev/zero left in place; a FIFO with bytes in it, open twice, then
 * removed. After restart each descriptor is the same
 * kind of node: the symlinks read the same targets, the devices have the
 * same numbers and work, and what was removed is still gone.
 * Usage: nodes DIR */
#include "fixture.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void expect_link(int fd, const char *want, const char *what) {
    struct stat st;
    char buf[256] = { 0 };
    if (fstatat(fd, "", &st, AT_EMPTY_PATH) != 0 || !S_ISLNK(st.st_mode)) { fail("%s is not a symlink any more", what); return; }
    if (readlinkat(fd, "", buf, sizeof buf - 1) < 0 || strcmp(buf, want) != 0) fail("%s points to \"%s\", want \"%s\"", what, buf, want);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    char gone[256], kept[256], null_node[256], zero_node[256], fifo[256];
    snprintf(fifo, sizeof fifo, "%s/gone-fifo", dir);
    snprintf(gone, sizeof gone, "%s/gone-link", dir);
    snprintf(kept, sizeof kept, "%s/kept-link", dir);
    snprintf(null_node, sizeof null_node, "%s/null-node", dir);
    snprintf(zero_node, sizeof zero_node, "%s/zero-node", dir);
    if (symlink("/nowhere/target-1", gone) != 0 || symlink("relative/target-2", kept) != 0) { fail("symlink"); return finish(); }
    int g = open(gone, O_PATH | O_NOFOLLOW), k = open(kept, O_PATH | O_NOFOLLOW);
    unlink(gone);
    /* A FIFO with bytes in it, open twice, then removed. */
    mkfifo(fifo, 0640);
    int frw = open(fifo, O_RDWR), fro = open(fifo, O_RDONLY | O_NONBLOCK);
    if (frw < 0 || fro < 0 || write(frw, "abc", 3) != 3) fail("fifo");
    unlink(fifo);
    int root = geteuid() == 0, n = -1, z = -1;
    if (root) {
        if (mknod(null_node, S_IFCHR | 0600, makedev(1, 3)) != 0 || mknod(zero_node, S_IFCHR | 0600, makedev(1, 5)) != 0) fail("mknod");
        if (chmod(null_node, 0622) != 0) fail("chmod");
        n = open(null_node, O_RDWR);
        z = open(zero_node, O_RDONLY);
        unlink(null_node);
    }

    ready();
    wait_for_term();

    expect_link(g, "/nowhere/target-1", "the removed symlink");
    expect_link(k, "relative/target-2", "the kept symlink");
    struct stat st;
    if (lstat(gone, &st) == 0) fail("the removed symlink is back at its path");
    char got[8] = { 0 };
    if (read(fro, got, sizeof got) != 3 || memcmp(got, "abc", 3) != 0) fail("the removed FIFO lost its bytes (\"%s\")", got);
    if (write(frw, "d", 1) != 1 || read(fro, got, 1) != 1 || got[0] != 'd') fail("the removed FIFO's two ends are not one FIFO");
    if (lstat(fifo, &st) == 0) fail("the removed FIFO is back at its path");
    if (root) {
        if (fstat(n, &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) fail("the removed /dev/null node is not 1:3");
        else if ((st.st_mode & 07777) != 0622) fail("the removed /dev/null node has mode 0%o, not 0622", st.st_mode & 07777);
        else if (write(n, "x", 1) != 1) fail("the removed /dev/null node does not take writes");
        if (lstat(null_node, &st) == 0) fail("the removed node is back at its path");
        char c = 1;
        if (fstat(z, &st) != 0 || st.st_rdev != makedev(1, 5) || read(z, &c, 1) != 1 || c != 0) fail("the /dev/zero node does not read zeros");
    }
    return finish();
}
