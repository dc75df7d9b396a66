/* A private view of shared memory: `sharedview mapfiles|memfd [keep]`. Five pages
 * of shared memory (MAP_SHARED|MAP_ANONYMOUS opened again through
 * /proc/self/map_files, root only; or a memfd) are mapped a second time
 * privately from page 1, reaching past the object's end, and a third time
 * shared from page 2. One private page is written (copied on write). After
 * restart the written page keeps its value, the others still follow the
 * object (a write through the shared mapping shows in the private one), and
 * the shared views are still one memory. With "keep" the map_files
 * descriptor stays open (zdtm shmemfd-priv): it is the same object, not a
 * removed file of its own. (Dumping this once crashed
 * cr_checkpoint: the pages past the end cannot be read.) */
#include "fixture.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define PAGE 4096

int main(int argc, char **argv) {
    int use_memfd = argc > 1 && strcmp(argv[1], "memfd") == 0;
    int fd;
    char *base;
    if (use_memfd) {
        fd = (int)syscall(SYS_memfd_create, "sharedview", 0);
        if (fd < 0 || ftruncate(fd, 5 * PAGE) != 0) { perror("memfd"); return 2; }
        base = mmap(NULL, 5 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    } else {
        base = mmap(NULL, 5 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        char path[128];
        snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (long)base, (long)base + 5 * PAGE);
        fd = open(path, O_RDWR);
        if (fd < 0) { perror(path); return 2; }
    }
    if (base == MAP_FAILED) { perror("mmap"); return 2; }
    for (int i = 0; i < 5; i++) *(int *)(base + i * PAGE) = 10 + i;
    char *priv = mmap(NULL, 5 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, PAGE);
    char *second = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * PAGE);
    if (priv == MAP_FAILED || second == MAP_FAILED) { perror("mmap view"); return 2; }
    if (!use_memfd && !(argc > 2 && strcmp(argv[2], "keep") == 0)) close(fd);
    *(int *)(priv + PAGE) = 22;  /* object page 2, copied on write */
    ready();
    wait_for_term();
    if (*(int *)(priv + PAGE) != 22) fail("the written private page lost its value: %d", *(int *)(priv + PAGE));
    if (*(int *)priv != 11) fail("the private view's first page is %d, not 11", *(int *)priv);
    if (*(int *)second != 12) fail("the second shared view's first page is %d, not 12", *(int *)second);
    *(int *)second = 333;
    if (*(int *)(base + 2 * PAGE) != 333) fail("the shared views are no longer one memory");
    if (*(int *)(priv + PAGE) != 22) fail("a write through the shared view reached the copied private page");
    *(int *)(base + 3 * PAGE) = 444;
    if (*(int *)(priv + 2 * PAGE) != 444) fail("the private view no longer follows the object (%d)", *(int *)(priv + 2 * PAGE));
    return finish();
}
