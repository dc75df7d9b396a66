/* Moves an image over TCP for the streaming tests: `streamcopy listen ADDR
 * PORT` accepts one connection and copies it to stdout ("LISTENING" on
 * stderr once bound); `streamcopy send ADDR PORT` copies stdin to ADDR:PORT
 * (retrying the connect for 5 s). Not a checkpoint fixture itself. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int copy(int from, int to) {
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = read(from, buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0) { perror("read"); return 1; }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(to, buf + done, (size_t)(n - done));
            if (w <= 0) { perror("write"); return 1; }
            done += w;
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: streamcopy listen|send ADDR PORT\n"); return 2; }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[2]); return 2; }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (strcmp(argv[1], "listen") == 0) {
        int one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 1) != 0) { perror("bind"); return 1; }
        fprintf(stderr, "LISTENING\n");
        int c = accept(s, NULL, NULL);
        if (c < 0) { perror("accept"); return 1; }
        return copy(c, 1);
    }
    for (int tries = 0; connect(s, (struct sockaddr *)&a, sizeof a) != 0; tries++) {
        if (tries == 50) { perror("connect"); return 1; }
        usleep(100000);
        close(s);
        s = socket(AF_INET, SOCK_STREAM, 0);
    }
    int r = copy(0, s);
    shutdown(s, SHUT_WR);
    close(s);
    return r;
}
