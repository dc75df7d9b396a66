/* A file mapped MAP_SHARED by a parent and its child, then unlinked: after
 * restart the two still share one file (what the child writes the parent
 * reads) and it is still unlinked (as BLCR keeps it). Only the child keeps
 * a descriptor of it: what it writes through that descriptor the parent
 * reads in its mapping too (BLCR's mmaps_rw_us2).
 * Usage: sharedunlinked DIR */
#include "fixture.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    char path[4096];
    snprintf(path, sizeof path, "%s/sharedunlinked.%d", dir, getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 8192) != 0) { perror(path); return 2; }
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 2; }
    unlink(path);
    strcpy(p, "before");
    handle_term();
    int go[2];
    if (pipe(go) != 0) return 2;
    pid_t child = fork();
    if (child == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) _exit(2);
        strcpy(p + 4096, "written by the child");
        static const char text[] = "written through a descriptor";
        if (pwrite(fd, text, sizeof text, 6000) != (ssize_t)sizeof text) _exit(3);
        struct stat st;
        if (fstat(fd, &st) != 0 || st.st_nlink != 0) _exit(4);  /* linked again */
        _exit(0);
    }
    close(fd);
    ready();
    wait_for_term();
    if (write(go[1], "g", 1) != 1) fail("waking the child");
    int status = 0;
    if (waitpid(child, &status, 0) != child) fail("waitpid(%d): %s (a new PID?)", child, strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("child status %x (3: its write failed, 4: the file is linked again)", status);
    if (strcmp(p + 4096, "written by the child") != 0) fail("the parent does not see the child's write: '%.24s'", p + 4096);
    if (strcmp(p + 6000, "written through a descriptor") != 0) fail("the parent's mapping does not see what the child wrote to its descriptor: '%.28s'", p + 6000);
    if (strcmp(p, "before") != 0) fail("the shared page lost its contents: '%.8s'", p);
    return finish();
}
