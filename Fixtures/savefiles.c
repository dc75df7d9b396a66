/* With cr_checkpoint --save-all the restart survives its files changing:
 * the fixture runs from a copy of itself (DIR/savefiles-copy), maps a data
 * file privately and another shared (written before the checkpoint), and
 * maps POSIX shared memory. The test deletes the copy and the shared file,
 * overwrites the private one and unlinks the shm object between checkpoint
 * and restart; everything must read as at the checkpoint, and the shared
 * file and shm object exist again, the process's, with their modes (0662
 * and 0606, which a restorer's umask would cut). Usage: savefiles DIR */
#include "fixture.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

static void put(const char *path, const char *text, size_t size) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0 || pwrite(fd, text, strlen(text), 0) < 0) { fail("write %s", path); exit(1); }
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char copy[4096], priv[4096], shared[4096], shm[64];
    snprintf(copy, sizeof copy, "%s/savefiles-copy", argv[1]);
    if (argc < 3) {  /* first run: become a copy of ourselves that the test can delete */
        char cmd[9000];
        snprintf(cmd, sizeof cmd, "cp /proc/%d/exe %s", getpid(), copy);
        if (system(cmd) != 0) { fail("copy"); return finish(); }
        execl(copy, copy, argv[1], "copied", (char *)NULL);
        fail("exec: %s", strerror(errno));
        return finish();
    }
    snprintf(priv, sizeof priv, "%s/private.dat", argv[1]);
    snprintf(shared, sizeof shared, "%s/shared.dat", argv[1]);
    snprintf(shm, sizeof shm, "/swiftcr-savefiles-%d", getpid());
    put(priv, "private contents", 8192);
    put(shared, "shared before", 4096);
    int pf = open(priv, O_RDONLY), sf = open(shared, O_RDWR);
    int mf = shm_open(shm, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (pf < 0 || sf < 0 || mf < 0 || ftruncate(mf, 4096) != 0 || fchmod(sf, 0662) != 0 || fchmod(mf, 0606) != 0) { fail("open: %s", strerror(errno)); return finish(); }
    const char *p = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, pf, 0);
    char *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, sf, 0);
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mf, 0);
    close(pf); close(sf); close(mf);
    if (p == MAP_FAILED || s == MAP_FAILED || m == MAP_FAILED) { fail("mmap"); return finish(); }
    strcpy(s, "shared at checkpoint");
    strcpy(m, "posix shm at checkpoint");
    printf("SHM %s\n", shm);

    ready();
    wait_for_term();

    if (strcmp(p, "private contents") != 0) fail("private mapping reads \"%.20s\"", p);
    if (strcmp(s, "shared at checkpoint") != 0) fail("shared mapping reads \"%.20s\"", s);
    if (strcmp(m, "posix shm at checkpoint") != 0) fail("POSIX shm reads \"%.24s\"", m);
    char back[32] = { 0 };
    int again = open(shared, O_RDONLY);
    if (again < 0 || pread(again, back, 20, 0) != 20 || strcmp(back, "shared at checkpoint") != 0) fail("%s was not made again with its contents", shared);
    int mo = shm_open(shm, O_RDONLY, 0);
    if (mo < 0) fail("POSIX shm object %s was not made again", shm);
    struct stat st;
    if (again >= 0 && fstat(again, &st) == 0 && ((st.st_mode & 07777) != 0662 || st.st_uid != geteuid()))
        fail("%s made again with mode 0%o owner %u, want 0662 %u", shared, st.st_mode & 07777, st.st_uid, geteuid());
    if (mo >= 0 && fstat(mo, &st) == 0 && ((st.st_mode & 07777) != 0606 || st.st_uid != geteuid()))
        fail("%s made again with mode 0%o owner %u, want 0606 %u", shm, st.st_mode & 07777, st.st_uid, geteuid());
    strcpy(s, "shared after");
    if (again >= 0 && (pread(again, back, 12, 0) != 12 || memcmp(back, "shared after", 12) != 0)) fail("the shared mapping is not the file any more");
    shm_unlink(shm);
    return finish();
}
