/* memfd_secret memory, which no other process may read: a checkpoint is
 * refused; afterwards the bytes are still there and writable.
 * Usage: secretmem fd|map   (map: the descriptor closed, the mapping kept) */
#include "fixture.h"
#include <sys/mman.h>

int main(int argc, char **argv) {
    int keep_fd = argc > 1 && strcmp(argv[1], "fd") == 0;
    int fd = (int)syscall(447, 0);  /* memfd_secret, Linux 5.14+ */
    if (fd < 0) { printf("SKIP memfd_secret: %s\n", strerror(errno)); fflush(stdout); return 0; }
    char *p = ftruncate(fd, 8192) == 0 ? mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (p == MAP_FAILED) { printf("SKIP memfd_secret mapping: %s\n", strerror(errno)); fflush(stdout); return 0; }
    strcpy(p, "hidden");
    if (!keep_fd) close(fd);
    ready();
    wait_for_term();
    if (strcmp(p, "hidden") != 0) fail("the secret bytes changed");
    p[4096] = 1;
    return finish();
}
