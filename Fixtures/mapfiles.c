/* File mappings whose file changed under them. In DIR:
 * - a file opened read-write and mapped shared read-only, one page then
 *   made writable: after restart the other page can be made writable too
 *   (the file is open for writing again), and writes reach the file;
 * - a file mapped private read-only and then removed, its pages never
 *   touched: after restart they still hold the file's bytes;
 * - a file removed but still open, mapped private read-write with one page
 *   written: after restart the other pages still follow the file (a write
 *   through the descriptor shows in them), the written page stays ours.
 * Also descriptors of this process's namespaces (net, uts), which must
 * be the namespaces it is in after restart.
 * Usage: mapfiles DIR */
#include "fixture.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define PAGE 4096

static int same_ns(int fd, const char *type) {
    char want[64], got[64], path[64];
    snprintf(path, sizeof path, "/proc/self/ns/%s", type);
    ssize_t a = readlink(path, want, sizeof want - 1);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t b = readlink(path, got, sizeof got - 1);
    return a > 0 && a == b && memcmp(want, got, (size_t)a) == 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    char shared_path[256], gone_path[256];
    snprintf(shared_path, sizeof shared_path, "%s/shared-map", dir);
    snprintf(gone_path, sizeof gone_path, "%s/gone-map", dir);

    int fd = open(shared_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 2 * PAGE) != 0) { fail("shared file"); return finish(); }
    char *ro = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    if (ro == MAP_FAILED || mprotect(ro + PAGE, PAGE, PROT_READ | PROT_WRITE) != 0) { fail("map shared"); return finish(); }
    close(fd);

    int g = open(gone_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char page[PAGE];
    for (int k = 0; k < 3; k++) {
        memset(page, 'a' + k, PAGE);
        if (write(g, page, PAGE) != PAGE) fail("write the removed file");
    }
    char *gone = mmap(NULL, 3 * PAGE, PROT_READ, MAP_PRIVATE, g, 0);
    close(g);
    unlink(gone_path);
    if (gone == MAP_FAILED) { fail("map the removed file"); return finish(); }

    /* A removed file still open and mapped private read-write (zdtm
     * unlink_mmap02): page 0 written by us (our copy), the rest the file's. */
    char held_path[4200];
    snprintf(held_path, sizeof held_path, "%s/mapfiles.held", dir);
    int held = open(held_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    for (int k = 0; k < 4; k++) {
        memset(page, 'p' + k, PAGE);
        if (write(held, page, PAGE) != PAGE) fail("write the held file");
    }
    char *view = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, held, 0);
    unlink(held_path);
    if (view == MAP_FAILED) { fail("map the held file"); return finish(); }
    view[0] = 'W';
    if (view[PAGE] != 'q') fail("setup: page 1 of the held file's mapping");

    int net = open("/proc/self/ns/net", O_RDONLY), uts = open("/proc/self/ns/uts", O_RDONLY);

    ready();
    wait_for_term();

    ro[PAGE] = 'w';
    if (mprotect(ro, PAGE, PROT_READ | PROT_WRITE) != 0) fail("the read-only page cannot be made writable: %s", strerror(errno));
    else {
        ro[0] = 'v';
        msync(ro, 2 * PAGE, MS_SYNC);
        int check = open(shared_path, O_RDONLY);
        char two[2] = { 0 };
        if (pread(check, &two[0], 1, 0) != 1 || pread(check, &two[1], 1, PAGE) != 1 || two[0] != 'v' || two[1] != 'w') fail("writes did not reach the file");
        close(check);
    }
    for (int k = 0; k < 3; k++)
        if (gone[k * PAGE] != 'a' + k || gone[k * PAGE + PAGE - 1] != 'a' + k) fail("page %d of the removed file's mapping lost its bytes", k);
    /* Unwritten pages follow the file; the page we wrote is ours. */
    if (pwrite(held, "Z", 1, 2 * PAGE) != 1 || pwrite(held, "Y", 1, 0) != 1) fail("write through the held descriptor");
    if (view[2 * PAGE] != 'Z') fail("the held file's mapping does not show what was written through its descriptor (%c)", view[2 * PAGE]);
    if (view[0] != 'W') fail("the page written in the held file's mapping lost our copy (%c)", view[0]);
    if (view[PAGE] != 'q' || view[3 * PAGE + PAGE - 1] != 's') fail("the held file's mapping lost the file's bytes");
    if (!same_ns(net, "net")) fail("the net namespace descriptor is not this process's namespace");
    if (!same_ns(uts, "uts")) fail("the uts namespace descriptor is not this process's namespace");
    return finish();
}
