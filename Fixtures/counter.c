/* Counts as fast as it can, appending each number to FILE on a line of its
 * own; no handler for SIGTERM. A checkpoint that ends the process with a
 * signal must end it at the image point: a restart then goes on from the
 * next number, and FILE holds every number once, in order.
 * Usage: counter FILE */
#include "fixture.h"
#include <fcntl.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) { perror(argv[1]); return 2; }
    printf("READY %d\n", getpid());
    fflush(stdout);
    char line[32];
    for (unsigned long n = 1;; n++) {
        int len = snprintf(line, sizeof line, "%lu\n", n);
        if (write(fd, line, len) != len) return 3;
        for (volatile int spin = 0; spin < 500; spin++) {}
    }
}
