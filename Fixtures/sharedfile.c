/* A file mapped MAP_SHARED: after TERM, prints what the mapping holds now.
 * A restart maps the file as it is then (as BLCR does), even if it changed
 * since the checkpoint, so the program sees the file's present contents.
 * Usage: sharedfile FILE */
#include "fixture.h"
#include <fcntl.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 8192) != 0) { perror(argv[1]); return 2; }
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 2; }
    strcpy(p, "before");
    ready();
    wait_for_term();
    printf("sees '%.16s'\n", p);
    return finish();
}
