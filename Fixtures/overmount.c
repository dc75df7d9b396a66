/* A file opened in a directory that a mount is then made over: its path
 * leads into the new mount, where the file is not. swiftcr cannot reopen it
 * by path, so the checkpoint must refuse it (zdtm overmount_file, _fifo,
 * _dev; CRIU refuses them too), leaving the process as it was.
 * usage: overmount WORK file|fifo|dev   (dev needs root: a /dev/null node)
 * As a user the mount is made in a user and mount namespace of its own.
 * After SIGTERM: the mount goes, the descriptor must still be the file. */
#include "fixture.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int main(int argc, char **argv) {
    if (argc < 3) { printf("usage: overmount WORK file|fifo|dev\n"); return 2; }
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/covered", argv[1]);
    snprintf(path, sizeof path, "%s/foo", dir);
    if (mkdir(dir, 0755) && errno != EEXIST) { printf("FAIL: mkdir %s: %m\n", dir); return 1; }
    unlink(path);
    int fd;
    if (strcmp(argv[2], "fifo") == 0) {
        if (mkfifo(path, 0600)) { printf("FAIL: mkfifo: %m\n"); return 1; }
        fd = open(path, O_RDWR);
    } else if (strcmp(argv[2], "dev") == 0) {
        if (mknod(path, S_IFCHR | 0600, makedev(1, 3))) { printf("FAIL: mknod: %m\n"); return 1; }
        fd = open(path, O_RDWR);
    } else {
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0 && write(fd, "under", 5) != 5) fd = -1;
    }
    if (fd < 0) { printf("FAIL: open %s: %m\n", path); return 1; }
    struct stat before;
    fstat(fd, &before);
    if (unshare_as_self(geteuid() == 0 ? 0 : CLONE_NEWNS)) return 1;
    if (geteuid() != 0 || getuid() != 0) mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    if (mount("over", dir, "tmpfs", 0, NULL)) { printf("FAIL: mount over %s: %m\n", dir); return 1; }
    ready();
    wait_for_term();
    if (umount(dir)) fail("umount %s: %m", dir);
    struct stat now, there;
    if (fstat(fd, &now) || stat(path, &there) || now.st_ino != before.st_ino || there.st_ino != now.st_ino)
        fail("fd %d is no longer %s", fd, path);
    unlink(path);
    rmdir(dir);
    return finish();
}
