/* Named FIFOs: one opened for reading through one hard link and for writing
 * through another, with 5000 bytes unread and a 128 KiB capacity; another
 * opened read-write with bytes in it. After restart the bytes are there and
 * the two ends are still one pipe. A fourth, mode 0622, is removed while
 * open: it comes back removed, the process's, with that mode (which a
 * restorer's umask of 022 would cut). If the first FIFO's two names are
 * removed between the checkpoint and the restart, the restart makes it
 * again under both, one FIFO (BLCR's linked_fifo). Usage: fifo DIR */
#include "fixture.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char a[4096], b[4096], c[4096], d[4096];
    snprintf(a, sizeof a, "%s/fifo", argv[1]);
    snprintf(b, sizeof b, "%s/fifo-link", argv[1]);
    snprintf(c, sizeof c, "%s/fifo-rw", argv[1]);
    snprintf(d, sizeof d, "%s/fifo-gone", argv[1]);
    unlink(a); unlink(b); unlink(c); unlink(d);
    if (mkfifo(a, 0600) != 0 || link(a, b) != 0 || mkfifo(c, 0600) != 0) { fail("mkfifo/link: %s", strerror(errno)); return finish(); }
    int r = open(a, O_RDONLY | O_NONBLOCK);
    int w = open(b, O_WRONLY);
    int rw = open(c, O_RDWR);
    int gone = mkfifo(d, 0600) == 0 && chmod(d, 0622) == 0 ? open(d, O_RDWR) : -1;
    if (r < 0 || w < 0 || rw < 0 || gone < 0 || unlink(d) != 0) { fail("open: %s", strerror(errno)); return finish(); }
    if (fcntl(w, F_SETPIPE_SZ, 128 * 1024) < 128 * 1024) fail("F_SETPIPE_SZ");
    static char data[5000];
    for (int i = 0; i < 5000; i++) data[i] = (char)(i * 13 + 5);
    if (write(w, data, 5000) != 5000 || write(rw, "rdwr", 4) != 4) fail("fill");

    ready();
    wait_for_term();

    static char got[6000];
    ssize_t n = read(r, got, sizeof got);
    if (n != 5000 || memcmp(got, data, 5000) != 0) fail("read %zd of the 5000 unread bytes (or they differ)", n);
    if (fcntl(r, F_GETPIPE_SZ) < 128 * 1024) fail("capacity %d", fcntl(r, F_GETPIPE_SZ));
    if (!(fcntl(r, F_GETFL) & O_NONBLOCK)) fail("read end lost O_NONBLOCK");
    if (write(w, "more", 4) != 4 || read(r, got, 8) != 4 || memcmp(got, "more", 4) != 0) fail("the two links' ends are no longer one pipe");
    if (read(rw, got, 8) != 4 || memcmp(got, "rdwr", 4) != 0) fail("the read-write FIFO lost its bytes");
    struct stat sa, sb;
    if (fstat(r, &sa) != 0 || stat(a, &sb) != 0 || sa.st_ino != sb.st_ino) fail("the read end is not the FIFO at %s", a);
    if (fstat(w, &sa) != 0 || stat(b, &sb) != 0 || sa.st_ino != sb.st_ino || sa.st_nlink != 2) fail("the write end is not the FIFO at %s, with two names", b);
    if (fstat(gone, &sa) != 0 || !S_ISFIFO(sa.st_mode) || sa.st_nlink != 0 || (sa.st_mode & 07777) != 0622 || sa.st_uid != geteuid() || sa.st_gid != getegid())
        fail("the removed FIFO came back with mode 0%o, %lu links, owner %u:%u; want 0622, none, %u:%u", sa.st_mode & 07777,
             (unsigned long)sa.st_nlink, sa.st_uid, sa.st_gid, geteuid(), getegid());
    if (access(d, F_OK) == 0) fail("the restart left %s behind", d);
    return finish();
}
