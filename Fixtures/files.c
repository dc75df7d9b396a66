/* Files: offsets, a dup sharing one offset, close-on-exec, O_APPEND, a
 * directory, a high-numbered dup2, and /dev/null, zero, urandom; and 40
 * separate opens of one file, every third with a dup, in shuffled fd order
 * (each open keeps its own offset, each dup shares its file's); a file
 * made with O_TMPFILE (and one with O_NOFOLLOW, as Python's tempfile makes
 * it); a file unlinked while another hard link to it
 * remains in its directory (that very file again, for any user). */
#include "fixture.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

static void expect_path(int fd, const char *want) {
    char link[64], got[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, got, sizeof got - 1);
    if (n < 0) { fail("fd %d is not open", fd); return; }
    got[n] = 0;
    if (strcmp(got, want) != 0) fail("fd %d is %s, expected %s", fd, got, want);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
    snprintf(a, sizeof a, "%s/files.a", dir);
    snprintf(b, sizeof b, "%s/files.b", dir);
    snprintf(c, sizeof c, "%s/files.log", dir);
    char data[100];
    for (int i = 0; i < 100; i++) data[i] = (char)i;
    int fa = open(a, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (write(fa, data, 100) != 100) fail("write a");
    lseek(fa, 37, SEEK_SET);
    int fb = open(b, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (write(fb, "0123456789", 10) != 10) fail("write b");
    lseek(fb, 5, SEEK_SET);
    int dupa = dup(fa);
    int high = dup2(fb, 100);
    int flog = open(c, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    if (write(flog, "before\n", 7) != 7) fail("write log");
    int fnull = open("/dev/null", O_WRONLY);
    int fzero = open("/dev/zero", O_RDONLY);
    int frand = open("/dev/urandom", O_RDONLY | O_NONBLOCK);
    int fdir = open(dir, O_RDONLY | O_DIRECTORY);
    char u[PATH_MAX];
    snprintf(u, sizeof u, "%s/files.unlinked", dir);
    int fgone = open(u, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (write(fgone, "contents of a file that is gone", 31) != 31) fail("write unlinked");
    lseek(fgone, 12, SEEK_SET);
    unlink(u);
    /* its mode (and, as root, its owner) are the file's own, not the restorer's */
    fchmod(fgone, 0645);
    uid_t gone_uid = geteuid() == 0 ? 4321 : geteuid();
    gid_t gone_gid = geteuid() == 0 ? 4322 : getegid();
    if (geteuid() == 0 && fchown(fgone, gone_uid, gone_gid) != 0) fail("fchown unlinked");
    fchmod(fgone, 0645);
    /* and its modification time (zdtm file_attr) */
    struct timespec gone_times[2] = { { 1000000000, 0 }, { 1200000000, 123456789 } };
    if (futimens(fgone, gone_times) != 0) fail("futimens unlinked");
    int fcl = open(b, O_RDONLY | O_CLOEXEC);
    enum { OPENS = 40 };
    int opens[OPENS], dups[OPENS];
    for (int i = 0; i < OPENS; i++) {
        opens[i] = open(a, O_RDONLY);
        lseek(opens[i], i, SEEK_SET);
    }
    for (int i = OPENS - 1; i >= 0; i--) dups[i] = i % 3 == 0 ? dup2(opens[i], 200 + (i * 17) % 53) : -1;
    close(fb);  /* leave a hole in the fd table */
    /* a file that never had a name (O_TMPFILE, as tmpfile() makes) */
    int made = open(dir, O_TMPFILE | O_RDWR, 0600);
    int ftmp = made < 0 ? -1 : fcntl(made, F_DUPFD, 150);  /* away from the hole checked below */
    if (made >= 0) close(made);
    if (ftmp < 0 || write(ftmp, "nameless", 8) != 8) fail("O_TMPFILE");
    lseek(ftmp, 4, SEEK_SET);
    /* one as Python's tempfile.TemporaryFile opens it: O_NOFOLLOW stays in its flags */
    int opened = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_NOFOLLOW, 0600);
    int fpy = opened < 0 ? -1 : fcntl(opened, F_DUPFD, 170);  /* the hole stays */
    if (opened >= 0) close(opened);
    if (fpy < 0 || write(fpy, "python's", 8) != 8) fail("O_TMPFILE with O_NOFOLLOW");
    char named[PATH_MAX], other[PATH_MAX];
    snprintf(named, sizeof named, "%s/files.named", dir);
    snprintf(other, sizeof other, "%s/files.other-name", dir);
    unlink(other);  /* left by an earlier run in this directory */
    int fl = open(named, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int flinked = fl < 0 ? -1 : fcntl(fl, F_DUPFD, 160);
    if (fl >= 0) close(fl);
    if (flinked < 0 || link(named, other) != 0 || unlink(named) != 0 || write(flinked, "linked", 6) != 6) fail("hard-linked file");

    ready();
    wait_for_term();
    char tmp[8] = { 0 };
    struct stat tst;
    if (read(ftmp, tmp, 4) != 4 || memcmp(tmp, "less", 4) != 0 || fstat(ftmp, &tst) != 0 || tst.st_nlink != 0)
        fail("the O_TMPFILE file: read '%.4s', links %d", tmp, (int)tst.st_nlink);
    if (pread(fpy, tmp, 8, 0) != 8 || memcmp(tmp, "python's", 8) != 0) fail("the O_TMPFILE file opened with O_NOFOLLOW: read '%.8s'", tmp);
    struct stat lst, ost;
    if (pread(flinked, tmp, 6, 0) != 6 || memcmp(tmp, "linked", 6) != 0) fail("the hard-linked file's contents");
    if (fstat(flinked, &lst) != 0 || stat(other, &ost) != 0 || lst.st_ino != ost.st_ino)
        fail("the file unlinked under one name is not the one still linked under another");

    for (int i = 0; i < OPENS; i++) {
        if (lseek(opens[i], 0, SEEK_CUR) != i) fail("open %d of a: offset %ld", i, (long)lseek(opens[i], 0, SEEK_CUR));
        if (dups[i] >= 0 && lseek(dups[i], 0, SEEK_CUR) != i) fail("dup of open %d: offset %ld", i, (long)lseek(dups[i], 0, SEEK_CUR));
    }
    for (int i = 0; i < OPENS; i++) lseek(opens[i], 50 + i, SEEK_SET);
    for (int i = 0; i < OPENS; i++) {
        if (dups[i] >= 0 && lseek(dups[i], 0, SEEK_CUR) != 50 + i) fail("dup of open %d does not share its offset", i);
        if (i > 0 && lseek(opens[i], 0, SEEK_CUR) != 50 + i) fail("open %d of a shares an offset with another open", i);
    }
    if (lseek(fa, 0, SEEK_CUR) != 37) fail("offset of a is %ld", (long)lseek(fa, 0, SEEK_CUR));
    char byte;
    if (read(fa, &byte, 1) != 1 || byte != 37) fail("read at offset 37 of a");
    if (lseek(dupa, 0, SEEK_CUR) != 38) fail("dup of a does not share the offset (%ld)", (long)lseek(dupa, 0, SEEK_CUR));
    if (lseek(high, 0, SEEK_CUR) != 5) fail("offset of fd 100 is %ld", (long)lseek(high, 0, SEEK_CUR));
    if (fcntl(high, F_GETFD) & FD_CLOEXEC) fail("fd 100 has FD_CLOEXEC (dup2 clears it)");
    if (!(fcntl(fcl, F_GETFD) & FD_CLOEXEC)) fail("close-on-exec fd lost FD_CLOEXEC");
    if (fcntl(fb, F_GETFD) != -1) fail("closed fd %d is open after restart", fb);
    if (fcntl(fa, F_GETFD) & FD_CLOEXEC) fail("fd a got FD_CLOEXEC");
    if (!(fcntl(flog, F_GETFL) & O_APPEND)) fail("log lost O_APPEND");
    if (write(flog, "after\n", 6) != 6) fail("write log after restart");
    if (!(fcntl(frand, F_GETFL) & O_NONBLOCK)) fail("urandom lost O_NONBLOCK");
    char z[16] = {1};
    if (read(fzero, z, sizeof z) != sizeof z || z[0] != 0 || z[15] != 0) fail("/dev/zero");
    if (write(fnull, "x", 1) != 1) fail("/dev/null");
    unsigned r;
    if (read(frand, &r, sizeof r) != sizeof r) fail("/dev/urandom");
    struct stat st;
    if (fstat(fdir, &st) != 0 || !S_ISDIR(st.st_mode)) fail("directory fd");
    struct stat gone;
    if (fstat(fgone, &gone) != 0 || gone.st_nlink != 0 || gone.st_size != 31) fail("unlinked file: links %ld size %ld", (long)gone.st_nlink, (long)gone.st_size);
    if (lseek(fgone, 0, SEEK_CUR) != 12) fail("unlinked file offset %ld", (long)lseek(fgone, 0, SEEK_CUR));
    if (gone.st_mtim.tv_sec != 1200000000 || gone.st_mtim.tv_nsec != 123456789)
        fail("unlinked file modification time %ld.%09ld, not 1200000000.123456789", (long)gone.st_mtim.tv_sec, (long)gone.st_mtim.tv_nsec);
    if ((gone.st_mode & 07777) != 0645) fail("unlinked file mode 0%o, not 0645", gone.st_mode & 07777);
    if (gone.st_uid != gone_uid || gone.st_gid != gone_gid) fail("unlinked file owner %u:%u, not %u:%u", gone.st_uid, gone.st_gid, gone_uid, gone_gid);
    char rest[20] = {0};
    if (read(fgone, rest, 19) != 19 || strcmp(rest, "a file that is gone") != 0) fail("unlinked file contents '%s'", rest);
    if (access(u, F_OK) == 0) fail("the unlinked file came back with a name");
    /* /proc still names it as it was, "(deleted)" (zdtm unlink tests compare the link). */
    char link[4200], want[4200], proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fgone);
    ssize_t ln = readlink(proc, link, sizeof link - 1);
    link[ln > 0 ? ln : 0] = 0;
    snprintf(want, sizeof want, "%s (deleted)", u);
    if (strcmp(link, want) != 0) fail("the unlinked file is %s in /proc, not %s", link, want);
    expect_path(fa, a); expect_path(high, b); expect_path(flog, c);
    expect_path(fnull, "/dev/null"); expect_path(fzero, "/dev/zero"); expect_path(frand, "/dev/urandom");
    char logbuf[32] = {0};
    int rl = open(c, O_RDONLY);
    if (read(rl, logbuf, sizeof logbuf - 1) != 13 || strcmp(logbuf, "before\nafter\n") != 0) fail("log content '%s'", logbuf);
    return finish();
}
