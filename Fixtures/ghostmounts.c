/* Files removed while open, on mounts of mount namespaces of their own (a
 * container's private tmpfs, zdtm mntns_link_ghost and mntns_link_remap).
 * In a namespace of ours, a tmpfs T with binds A (of T/a) and B (of T/b):
 *   ghost: opened through A, linked into T/b, the child opens it through B,
 *          then both names go: one file with no name, held on two mounts;
 *   remap: the same, but a third name T/keep/remap stays (nlink 1): the
 *          file is still reachable, only not where it was opened.
 * The child's namespace is a copy of ours without A, so the descriptors it
 * inherits are on a mount it does not see. Seeded sizes and bytes.
 * After the restart: each descriptor is the same file as before (one inode
 * for both processes' descriptors, a write through one read through the
 * other), on the tmpfs (not a file made elsewhere), with its link count,
 * its bytes and its removed name; the remap file is T/keep/remap; and each
 * descriptor is on its own mount again: A's in the parent, B's in the child.
 * usage: ghostmounts SEED WORKDIR */
#include "fixture.h"
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

static uint64_t rng;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static char t[512], a[600], b[600], keep[700];
static size_t ghost_size, remap_size;

static unsigned char byte_of(int file, size_t k) { return (unsigned char)(file * 53 + k * 13 + 7); }

static int mount_id_of_path(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    int id = fd < 0 ? -1 : mount_id_of_fd(fd);
    if (fd >= 0) close(fd);
    return id;
}
static int make(const char *dir, const char *name, int file, size_t size) {
    char p[800];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_CREAT | O_RDWR | O_EXCL, 0640);
    if (fd < 0) { fail("create %s: %m", p); return -1; }
    unsigned char buf[4096];
    for (size_t at = 0; at < size;) {
        size_t n = size - at < sizeof buf ? size - at : sizeof buf;
        for (size_t k = 0; k < n; k++) buf[k] = byte_of(file, at + k);
        if (write(fd, buf, n) != (ssize_t)n) { fail("write %s: %m", p); return -1; }
        at += n;
    }
    return fd;
}

static void link_into(const char *from_dir, const char *name, const char *to_dir, const char *to_name) {
    char x[800], y[800];
    snprintf(x, sizeof x, "%s/%s", from_dir, name);
    snprintf(y, sizeof y, "%s/%s", to_dir, to_name);
    if (link(x, y)) fail("link %s %s: %m", x, y);
}

static void check_bytes(int fd, int file, size_t size, const char *what) {
    unsigned char buf[4096];
    size_t at = 0;
    ssize_t n;
    while ((n = pread(fd, buf, sizeof buf, (off_t)at)) > 0) {
        for (ssize_t k = 0; k < n; k++)
            if (buf[k] != byte_of(file, at + (size_t)k)) { fail("%s: byte %zu differs", what, at + (size_t)k); return; }
        at += (size_t)n;
    }
    if (at != size) fail("%s: %zu bytes, had %zu", what, at, size);
}

/* fd is the file removed from `dir`/`name`, with `links` names left, on T. */
static void check_removed(int fd, const char *dir, const char *name, nlink_t links, const char *what) {
    struct stat st, tmpfs;
    if (fstat(fd, &st) || stat(t, &tmpfs)) { fail("%s: stat: %m", what); return; }
    if (st.st_nlink != links) fail("%s: %lu links, had %lu", what, (unsigned long)st.st_nlink, (unsigned long)links);
    if (st.st_dev != tmpfs.st_dev) fail("%s: not on the tmpfs any more (device %lx, the tmpfs %lx)", what, (unsigned long)st.st_dev, (unsigned long)tmpfs.st_dev);
    char p[64], shown[1024] = "", want[1024];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    if (readlink(p, shown, sizeof shown - 1) < 0) fail("%s: readlink: %m", what);
    snprintf(want, sizeof want, "%s/%s (deleted)", dir, name);
    if (strcmp(shown, want) != 0) fail("%s: shown as '%s', was '%s'", what, shown, want);
}

static void same_file(int x, int y, const char *what) {
    struct stat sx, sy;
    if (fstat(x, &sx) || fstat(y, &sy) || sx.st_ino != sy.st_ino || sx.st_dev != sy.st_dev) { fail("%s: two files where there was one", what); return; }
    unsigned char mark = (unsigned char)next(), got = 0;
    if (pwrite(x, &mark, 1, 0) != 1 || pread(y, &got, 1, 0) != 1 || got != mark) fail("%s: a write through one is not read through the other", what);
}

static int child(int ghost1, int remap1, int done) {
    if (unshare(CLONE_NEWNS)) { fail("unshare: %m"); return 1; }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) { fail("private: %m"); return 1; }
    char p[800];
    snprintf(p, sizeof p, "%s/ghost", b);
    int ghost2 = open(p, O_RDWR);
    snprintf(p, sizeof p, "%s/remap", b);
    int remap2 = open(p, O_RDWR);
    if (ghost2 < 0 || remap2 < 0) { fail("open through B: %m"); return 1; }
    if (umount2(a, 0)) { fail("umount %s: %m", a); return 1; }
    int inherited = mount_id_of_fd(ghost1);
    if (mounted_here(inherited)) fail("before: A is still mounted in the child");
    handle_term();
    if (write(done, "1", 1) != 1) return 1;
    close(done);
    wait_for_term();

    check_removed(ghost2, b, "ghost", 0, "the child's ghost");
    check_removed(remap2, b, "remap", 1, "the child's remap");
    check_bytes(ghost2, 1, ghost_size, "the child's ghost");
    same_file(ghost1, ghost2, "ghost");
    same_file(remap1, remap2, "remap");
    int own = mount_id_of_path(b);
    if (mount_id_of_fd(ghost2) != own || mount_id_of_fd(remap2) != own) fail("the child's files are not on its B (%d, %d; B %d)", mount_id_of_fd(ghost2), mount_id_of_fd(remap2), own);
    if (mounted_here(mount_id_of_fd(ghost1)) || mounted_here(mount_id_of_fd(remap1))) fail("the inherited files moved onto a mount of the child's namespace");
    return fixture_failures ? 1 : 0;
}

int main(int argc, char **argv) {
    rng = argc > 1 ? strtoull(argv[1], NULL, 10) | 1 : 1;
    const char *work = argc > 2 ? argv[2] : ".";
    ghost_size = next() % 4 == 0 ? 0 : next() % 300000;
    remap_size = 1 + next() % 300000;
    snprintf(t, sizeof t, "%s/t", work);
    snprintf(a, sizeof a, "%s/a", work);
    snprintf(b, sizeof b, "%s/b", work);
    snprintf(keep, sizeof keep, "%s/keep", t);
    mkdir(t, 0755); mkdir(a, 0755); mkdir(b, 0755);
    if (unshare_as_self(CLONE_NEWNS)) return 1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) { fail("private: %m"); return finish(); }
    if (mount("ghosts", t, "tmpfs", 0, "size=4m")) { fail("tmpfs: %m"); return finish(); }
    char ta[600], tb[600];
    snprintf(ta, sizeof ta, "%s/a", t);
    snprintf(tb, sizeof tb, "%s/b", t);
    mkdir(ta, 0755); mkdir(tb, 0755); mkdir(keep, 0755);
    if (mount(ta, a, NULL, MS_BIND, NULL) || mount(tb, b, NULL, MS_BIND, NULL)) { fail("binds: %m"); return finish(); }
    int ghost1 = make(a, "ghost", 1, ghost_size);
    int remap1 = make(a, "remap", 2, remap_size);
    if (ghost1 < 0 || remap1 < 0) return finish();
    link_into(ta, "ghost", tb, "ghost");
    link_into(ta, "remap", tb, "remap");
    link_into(ta, "remap", keep, "remap");
    int sync[2];
    if (pipe(sync)) return 1;
    pid_t c = fork();
    if (c == 0) { close(sync[0]); exit(child(ghost1, remap1, sync[1])); }
    close(sync[1]);
    char one;
    if (read(sync[0], &one, 1) != 1) { fail("the child did not get ready"); return finish(); }
    close(sync[0]);
    char p[800];
    const char *names[] = { "ghost", "remap" };
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/%s", ta, names[k]); if (unlink(p)) fail("unlink %s: %m", p);
        snprintf(p, sizeof p, "%s/%s", tb, names[k]); if (unlink(p)) fail("unlink %s: %m", p);
    }
    ready();
    wait_for_term();

    check_removed(ghost1, a, "ghost", 0, "the ghost");
    check_removed(remap1, a, "remap", 1, "the remap");
    check_bytes(ghost1, 1, ghost_size, "the ghost");
    check_bytes(remap1, 2, remap_size, "the remap");
    struct stat kept, held;
    snprintf(p, sizeof p, "%s/remap", keep);
    if (stat(p, &kept) || fstat(remap1, &held) || kept.st_ino != held.st_ino) fail("the remap file is not %s any more", p);
    int own = mount_id_of_path(a);
    if (mount_id_of_fd(ghost1) != own || mount_id_of_fd(remap1) != own) fail("the files are not on A (%d, %d; A %d)", mount_id_of_fd(ghost1), mount_id_of_fd(remap1), own);
    kill(c, SIGTERM);
    int status = 0;
    if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the child failed (status %#x)", status);
    return finish();
}
