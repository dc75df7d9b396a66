/* Locks held across the checkpoint are held again after restart: a flock
 * (also through a dup), a POSIX write lock on bytes 10-14, and an OFD read
 * lock from byte 100 to the end. A child started after restart must fail to
 * take each of them; the process itself can still drop and retake them.
 * Usage: locks DIR */
#include "fixture.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>

static int open_in(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0) { fail("open %s: %s", path, strerror(errno)); exit(1); }
    if (ftruncate(fd, 4096) != 0) fail("ftruncate");
    return fd;
}

static int conflicts(int fd, int cmd, short type, off_t start, off_t len, pid_t *holder) {
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
    if (fcntl(fd, cmd, &fl) != 0) return -1;
    if (holder) *holder = fl.l_pid;
    return fl.l_type != F_UNLCK;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int a = open_in(argv[1], "flock.lock");
    int a2 = dup(a);
    int b = open_in(argv[1], "posix.lock");
    int c = open_in(argv[1], "ofd.lock");
    if (flock(a, LOCK_EX | LOCK_NB) != 0) fail("flock");
    struct flock wr = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 5 };
    if (fcntl(b, F_SETLK, &wr) != 0) fail("F_SETLK");
    struct flock rd = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 0 };
    if (fcntl(c, F_OFD_SETLK, &rd) != 0) fail("F_OFD_SETLK");

    ready();
    wait_for_term();

    pid_t self = getpid();
    pid_t child = fork();
    if (child == 0) {
        int bad = 0;
        int a3 = open_in(argv[1], "flock.lock");
        if (flock(a3, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) { printf("FAIL: another process took the flock\n"); bad = 1; }
        int b3 = open_in(argv[1], "posix.lock");
        pid_t holder = 0;
        if (conflicts(b3, F_GETLK, F_RDLCK, 12, 1, &holder) != 1) { printf("FAIL: the POSIX lock on bytes 10-14 is gone\n"); bad = 1; }
        else if (holder != self) { printf("FAIL: the POSIX lock is held by %d, not %d\n", holder, self); bad = 1; }
        if (conflicts(b3, F_GETLK, F_WRLCK, 15, 10, NULL) != 0) { printf("FAIL: the POSIX lock grew past byte 14\n"); bad = 1; }
        int c3 = open_in(argv[1], "ofd.lock");
        if (conflicts(c3, F_OFD_GETLK, F_WRLCK, 5000, 1, NULL) != 1) { printf("FAIL: the OFD read lock to EOF is gone\n"); bad = 1; }
        if (conflicts(c3, F_OFD_GETLK, F_RDLCK, 5000, 1, NULL) != 0) { printf("FAIL: the OFD lock became a write lock\n"); bad = 1; }
        if (conflicts(c3, F_OFD_GETLK, F_WRLCK, 0, 100, NULL) != 0) { printf("FAIL: the OFD lock starts before byte 100\n"); bad = 1; }
        fflush(stdout);
        _exit(bad);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the checker child found the locks missing");
    /* The restored process owns them: unlock through the dup, then retake. */
    if (flock(a2, LOCK_UN) != 0 || flock(a, LOCK_EX | LOCK_NB) != 0) fail("cannot drop and retake the flock");
    return finish();
}
