/* A TCP connection over loopback whose receiver stopped reading: the sender
 * filled its window until the receiver advertised none (snd_wnd 0), so the
 * checkpoint finds a closed window. A restored sender must keep the window
 * state it had (the largest window seen bounds its segment size, TCP_MAXSEG,
 * and the receive window it last advertised), and every byte must arrive
 * once the receiver reads again. Root only (TCP_REPAIR).
 * Usage: tcpzerowindow SEED (the seed sets the receive buffer and write sizes). */
#include "fixture.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

static unsigned rng;
static unsigned next_random(void) { rng = rng * 1103515245u + 12345u; return rng >> 8; }
static unsigned char pattern(long at) { return (unsigned char)((at * 7 + at / 253) % 253); }

/* Writes without blocking until nothing more goes for 300 ms: the window is shut. */
static long fill(int fd) {
    static unsigned char buf[20000];
    long sent = 0;
    int idle = 0;
    while (idle < 30) {
        int n = 1 + (int)(next_random() % sizeof buf);
        for (int i = 0; i < n; i++) buf[i] = pattern(sent + i);
        ssize_t w = send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) { sent += w; idle = 0; continue; }
        if (w < 0 && errno != EAGAIN) { fail("send: %s", strerror(errno)); break; }
        usleep(10000);
        idle++;
    }
    return sent;
}

static int segment_size(int fd) {
    int v = 0;
    socklen_t l = sizeof v;
    getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, &l);
    return v;
}

int main(int argc, char **argv) {
    rng = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    int lst = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    if (bind(lst, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lst, 1) != 0) { fail("listen"); return finish(); }
    getsockname(lst, (struct sockaddr *)&addr, &len);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&addr, sizeof addr) != 0) { fail("connect"); return finish(); }
    int s = accept(lst, NULL, NULL);
    close(lst);
    /* A small receive buffer: the largest window stays under twice the
     * loopback segment, so it is what bounds the sender's segment size. */
    int rcvbuf = 16384 + (int)(next_random() % 49152);
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    long sent = fill(c);
    int mss_before = segment_size(c);
    printf("filled %ld bytes, receive buffer %d, sender segment size %d\n", sent, rcvbuf, mss_before);
    fflush(stdout);

    ready();
    wait_for_term();

    int mss_after = segment_size(c);
    if (mss_after != mss_before) fail("sender segment size (TCP_MAXSEG) changed from %d to %d", mss_before, mss_after);
    /* The receiver reads again: every byte once, in order, then the sender goes on. */
    static unsigned char buf[65536];
    long got = 0;
    while (got < sent) {
        struct pollfd p = { s, POLLIN, 0 };
        if (poll(&p, 1, 5000) != 1) { fail("received %ld of %ld bytes, then nothing for 5 s", got, sent); break; }
        ssize_t r = recv(s, buf, sizeof buf, 0);
        if (r <= 0) { fail("receiver: %s", r == 0 ? "end of file" : strerror(errno)); break; }
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != pattern(got + i)) { fail("byte %ld is wrong", got + i); return finish(); }
        got += r;
    }
    if (send(c, "end", 3, MSG_NOSIGNAL) != 3) fail("the sender cannot send after the window opened");
    char e[4] = { 0 };
    struct pollfd p = { s, POLLIN, 0 };
    if (poll(&p, 1, 5000) != 1 || recv(s, e, 3, MSG_WAITALL) != 3 || strcmp(e, "end") != 0) fail("the last bytes did not arrive");
    return finish();
}
