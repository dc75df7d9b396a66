/* Descriptors in flight: files sent with SCM_RIGHTS and not yet received
 * when the checkpoint is taken. A seeded random mix of messages, each with
 * 0-3 descriptors of several kinds (a pipe holding bytes, a regular file
 * at an offset, an eventfd with a count, a memfd), waits in
 *  - a datagram pair whose sending end is closed,
 *  - a stream pair, plain bytes between messages that carry files,
 *  - a seqpacket pair.
 * Some files are also kept open by the process (they must stay one open
 * file: a seek through one moves the other), one is sent twice, and an
 * epoll watching a readable eventfd the process keeps is in flight, and a
 * bound datagram pair is in flight in its own queues (a loop). After
 * restart every message comes back in order, with its files, each file
 * with its contents.
 * Usage: inflight DIR SEED */
#include "fixture.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stddef.h>

#define MESSAGES 12
#define MAXFDS 3

enum kind { PIPE, FILEREF, EVENTFD, MEMFD, KINDS };

struct expect {
    int kinds[MAXFDS];
    unsigned ids[MAXFDS];
    int count;
};

static const char *dir;
static int kept = -1;      /* a file the process keeps open and also sends */
static int keptSent;

/* A new file of `kind` whose contents say `id`. */
static int make(int kind, unsigned id) {
    char text[32];
    snprintf(text, sizeof text, "id %u", id);
    switch (kind) {
    case PIPE: {
        int p[2];
        if (pipe(p) != 0) return -1;
        if (write(p[1], text, strlen(text)) < 0) return -1;
        close(p[1]);
        return p[0];
    }
    case FILEREF: {
        char path[256];
        snprintf(path, sizeof path, "%s/inflight.%u", dir, id);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) return -1;
        /* 3 bytes of padding: the file is sent at offset 3, where the id starts. */
        if (write(fd, "...", 3) != 3 || write(fd, text, strlen(text)) < 0) return -1;
        lseek(fd, 3, SEEK_SET);
        return fd;
    }
    case EVENTFD: return eventfd(id, 0);
    default: {
        int fd = memfd_create("inflight", 0);
        if (fd < 0 || write(fd, text, strlen(text)) < 0) return -1;
        lseek(fd, 0, SEEK_SET);
        return fd;
    }
    }
}

/* The id a received file of `kind` holds, or -1. */
static long identify(int kind, int fd) {
    char text[32] = {0};
    if (kind == EVENTFD) {
        uint64_t v;
        return read(fd, &v, 8) == 8 ? (long)v : -1;
    }
    if (read(fd, text, sizeof text - 1) <= 0) return -1;
    unsigned id;
    return sscanf(text, "id %u", &id) == 1 ? (long)id : -1;
}

static int sendWith(int sk, const char *data, size_t len, const int *fds, int n) {
    char control[CMSG_SPACE(MAXFDS * sizeof(int))];
    struct iovec iov = { (void *)data, len };
    struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (n > 0) {
        memset(control, 0, sizeof control);
        h.msg_control = control;
        h.msg_controllen = CMSG_SPACE(n * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    }
    return sendmsg(sk, &h, MSG_DONTWAIT) == (ssize_t)len ? 0 : -1;
}

/* Receives one message of up to `len` bytes; its files in fds. */
static ssize_t recvWith(int sk, char *data, size_t len, int *fds, int *n) {
    char control[CMSG_SPACE(MAXFDS * sizeof(int)) + 64];
    struct iovec iov = { data, len };
    struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t r = recvmsg(sk, &h, MSG_DONTWAIT);
    *n = 0;
    if (r < 0) return r;
    if (h.msg_flags & MSG_CTRUNC) fail("control data cut short");
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        memcpy(fds + *n, CMSG_DATA(c), k * sizeof(int));
        *n += k;
    }
    return r;
}

/* Fills one queue: message k says "mK" and carries e[k]'s files. */
static void fill(int sk, struct expect *e, unsigned *next) {
    for (int k = 0; k < MESSAGES; k++) {
        e[k].count = rand() % (MAXFDS + 1);
        int fds[MAXFDS];
        for (int j = 0; j < e[k].count; j++) {
            e[k].kinds[j] = rand() % KINDS;
            e[k].ids[j] = (*next)++;
            if (e[k].kinds[j] == FILEREF && kept < 0) {
                /* Kept open too: the two must stay one open file. */
                kept = make(FILEREF, e[k].ids[j]);
                fds[j] = kept;
                keptSent = 1;
                continue;
            }
            fds[j] = make(e[k].kinds[j], e[k].ids[j]);
            if (fds[j] < 0) fail("making file %u", e[k].ids[j]);
        }
        char text[8];
        int len = snprintf(text, sizeof text, "m%d", k);
        if (sendWith(sk, text, len, fds, e[k].count) != 0) fail("send message %d: %s", k, strerror(errno));
        for (int j = 0; j < e[k].count; j++) if (fds[j] != kept) close(fds[j]);
    }
}

/* Checks one received message's files against e's. */
static void checkFiles(const struct expect *e, const int *fds, int n, const char *what, int k) {
    if (n != e->count) { fail("%s message %d: %d files, want %d", what, k, n, e->count); return; }
    for (int j = 0; j < n; j++) {
        long id = identify(e->kinds[j], fds[j]);
        if (id != (long)e->ids[j]) fail("%s message %d file %d (kind %d): holds id %ld, want %u", what, k, j, e->kinds[j], id, e->ids[j]);
        close(fds[j]);
    }
}

/* Receives a queue back and checks every message and file. A stream read
 * with room to spare runs on through plain bytes and stops after the first
 * bytes that carry files: each read is the messages up to the next one with files. */
static void check(int sk, struct expect *e, const char *what, int stream, int more) {
    for (int k = 0; k < MESSAGES; k++) {
        char text[64] = {0}, want[64];
        int fds[MAXFDS * 2], n, first = k;
        int len = snprintf(want, sizeof want, "m%d", k);
        while (stream && e[k].count == 0 && k + 1 < MESSAGES) {
            k++;
            len += snprintf(want + len, sizeof want - len, "m%d", k);
        }
        ssize_t r = recvWith(sk, text, sizeof text - 1, fds, &n);
        if (r != len || memcmp(text, want, len) != 0) { fail("%s message %d: got %zd bytes '%s', want '%s'", what, first, r, text, want); return; }
        checkFiles(&e[k], fds, n, what, k);
    }
    char c;
    int fds[MAXFDS], n;
    if (!more && recvWith(sk, &c, 1, fds, &n) >= 0) fail("%s: more queued than was sent", what);
}

int main(int argc, char **argv) {
    dir = argc > 1 ? argv[1] : ".";
    unsigned seed = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
    srand(seed);
    unsigned next = 1;
    struct expect dgram[MESSAGES], stream[MESSAGES], seqpacket[MESSAGES];
    int d[2], s[2], q[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, d) || socketpair(AF_UNIX, SOCK_STREAM, 0, s) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, q)) {
        perror("socketpair");
        return 2;
    }
    fill(d[0], dgram, &next);
    close(d[0]);  /* the sender is gone; its messages and their files wait */
    fill(s[0], stream, &next);
    fill(q[0], seqpacket, &next);
    /* One open file sent twice: both received copies share one offset. */
    int twice = make(MEMFD, 999);
    if (sendWith(q[0], "t", 1, (int[]){ twice, twice }, 2) != 0) fail("send twice");
    close(twice);
    /* An epoll in flight, watching an eventfd the process keeps (readable). */
    int watched = eventfd(1, 0), ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0xfeed };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, watched, &ev) != 0) fail("epoll_ctl");
    if (sendWith(q[0], "e", 1, (int[]){ ep }, 1) != 0) fail("send the epoll");
    close(ep);
    /* A loop (zdtm scm06): a datagram pair bound to abstract names, each end
     * sent into the other's queue through itself. The killed original's
     * loop holds those names until the kernel's collector frees it. */
    int loop[2];
    struct sockaddr_un names[2];
    socklen_t lengths[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, loop)) { perror("socketpair"); return 2; }
    for (int i = 0; i < 2; i++) {
        names[i] = (struct sockaddr_un){ .sun_family = AF_UNIX };
        int l = snprintf(names[i].sun_path + 1, sizeof names[i].sun_path - 1, "swiftcr-loop-%u-%d", seed, i);
        lengths[i] = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + l);
        if (bind(loop[i], (struct sockaddr *)&names[i], lengths[i]) != 0) fail("bind the loop: %s", strerror(errno));
    }
    for (int i = 0; i < 2; i++)
        if (sendWith(loop[i], "l", 1, (int[]){ loop[i], loop[1 - i] }, 2) != 0) fail("send the loop");
    ready();
    wait_for_term();
    for (int i = 0; i < 2; i++) {
        char l;
        int got[MAXFDS], k;
        if (recvWith(loop[i], &l, 1, got, &k) != 1 || k != 2) { fail("loop end %d: no message with two sockets", i); continue; }
        for (int j = 0; j < 2; j++) {
            struct sockaddr_un a;
            socklen_t al = sizeof a;
            int from = 1 - i, want = j == 0 ? from : 1 - from;
            if (getsockname(got[j], (struct sockaddr *)&a, &al) != 0 || al != lengths[want] || memcmp(&a, &names[want], al) != 0)
                fail("loop end %d: socket %d in flight is not the one sent", i, j);
            close(got[j]);
        }
    }
    check(d[1], dgram, "datagram", 0, 0);
    check(s[1], stream, "stream", 1, 0);
    check(q[1], seqpacket, "seqpacket", 0, 1);
    char t;
    int fds[4], n;
    if (recvWith(q[1], &t, 1, fds, &n) != 1 || n != 2) fail("the message with one file twice: %d files", n);
    else {
        if (lseek(fds[0], 2, SEEK_SET) != 2 || lseek(fds[1], 0, SEEK_CUR) != 2) fail("a file sent twice came back as two open files");
        close(fds[0]);
        close(fds[1]);
    }
    if (recvWith(q[1], &t, 1, fds, &n) != 1 || n != 1) fail("the message with the epoll: %d files", n);
    else {
        struct epoll_event got;
        if (epoll_wait(fds[0], &got, 1, 0) != 1 || got.data.u64 != 0xfeed) fail("the epoll in flight lost its watch on the kept eventfd");
    }
    /* The kept file was sent in one of the messages above and read through there: its offset moved here too. */
    if (keptSent && lseek(kept, 0, SEEK_CUR) == 3) fail("a file kept open and in flight came back as two open files");
    return finish();
}
