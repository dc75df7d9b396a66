/* A descriptor table drawn from a seed: `fdlayout SEED DIR`. Up to 48
 * descriptors at seeded numbers (some in the top 64 of the open-file
 * limit), of seeded kinds: pipe ends with bytes queued, UNIX stream and
 * datagram pairs with bytes queued, eventfd counters, armed timerfds,
 * signalfds with a mask, memfds and regular files at an offset, /dev/null,
 * duplicates sharing an earlier one's open file, and one epoll watching a
 * seeded subset under seeded events and data. Seeded O_NONBLOCK and
 * close-on-exec on each. After the restart every descriptor is checked
 * against what the seed says: kind, flags, queued bytes, counter, timer
 * interval, mask, offset, shared offsets, and each watch in the epoll's
 * fdinfo. */
#include "fixture.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#define MAX 48
enum kind { PIPE_R, PIPE_W, STREAM, DGRAM, EVENT, TIMER, SIGNAL, MEMFD, FILE_, DEVNULL, DUP, KINDS };
struct slot {
    int fd, kind, nonblock, cloexec, peer;  /* peer: the other end's slot (pipes, pairs), or the dup's original */
    unsigned long long value;               /* eventfd counter, timer interval ms, signal mask, offset, bytes queued */
    unsigned long long events, data;         /* epoll watch (events 0: not watched) */
};
static struct slot s[MAX];
static int count, epfd;
static unsigned long long rng;
static unsigned long long draw(unsigned long long bound) { rng = seed_mix(rng); return bound ? rng % bound : 0; }

/* A free number: low ones, or one of the top 64 under the limit. */
static int free_number(int limit) {
    for (;;) {
        int n = draw(4) == 0 ? limit - 1 - (int)draw(64) : 3 + (int)draw(limit - 3 < 200 ? (unsigned long long)(limit - 3) : 200);
        if (n >= 3 && fcntl(n, F_GETFD) == -1) return n;
    }
}

static int place(int fd, int limit) {
    int at = free_number(limit);
    if (dup2(fd, at) != at) { printf("FAIL: dup2 %d -> %d: %m\n", fd, at); exit(1); }
    close(fd);
    return at;
}

static void pattern(unsigned char *b, size_t n, unsigned long long salt) {
    for (size_t k = 0; k < n; k++) b[k] = (unsigned char)seed_mix(salt + k / 8) >> (k % 8);
}

static int add(int kind, int fd, int limit) {
    struct slot *x = &s[count];
    x->kind = kind;
    x->fd = place(fd, limit);
    x->peer = -1;
    return count++;
}

static void set_flags(struct slot *x) {
    x->nonblock = (int)draw(2);
    x->cloexec = (int)draw(2);
    int fl = fcntl(x->fd, F_GETFL);
    fcntl(x->fd, F_SETFL, x->nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
    fcntl(x->fd, F_SETFD, x->cloexec ? FD_CLOEXEC : 0);
}

static void make(const char *dir, int limit) {
    int wanted = 8 + (int)draw(MAX - 12);
    while (count < wanted) {
        int kind = (int)draw(KINDS);
        int p[2];
        unsigned char buf[512];
        switch (kind) {
        case PIPE_R: case PIPE_W: {
            if (pipe(p) != 0) { perror("pipe"); exit(2); }
            int r = add(PIPE_R, p[0], limit), w = add(PIPE_W, p[1], limit);
            s[r].peer = w; s[w].peer = r;
            s[r].value = 1 + draw(sizeof buf);
            pattern(buf, s[r].value, (unsigned long long)r * 977);
            if (write(s[w].fd, buf, s[r].value) != (ssize_t)s[r].value) { perror("pipe write"); exit(2); }
            break;
        }
        case STREAM: case DGRAM:
            if (socketpair(AF_UNIX, kind == STREAM ? SOCK_STREAM : SOCK_DGRAM, 0, p) != 0) { perror("socketpair"); exit(2); }
            {
                int a = add(kind, p[0], limit), b = add(kind, p[1], limit);
                s[a].peer = b; s[b].peer = a;
                s[b].value = 1 + draw(sizeof buf);  /* queued for b to read */
                pattern(buf, s[b].value, (unsigned long long)b * 977);
                if (write(s[a].fd, buf, s[b].value) != (ssize_t)s[b].value) { perror("socket write"); exit(2); }
            }
            break;
        case EVENT: {
            unsigned long long v = 1 + draw(1000000);
            int e = add(EVENT, eventfd((unsigned)v, 0), limit);
            s[e].value = v;
            break;
        }
        case TIMER: {
            int t = add(TIMER, timerfd_create(CLOCK_MONOTONIC, 0), limit);
            s[t].value = 1000 + draw(100000);  /* ms: none expires during the test */
            struct itimerspec its = { .it_interval = { (time_t)(s[t].value / 1000), (long)(s[t].value % 1000) * 1000000 },
                                      .it_value = { (time_t)(s[t].value / 1000), (long)(s[t].value % 1000) * 1000000 } };
            if (timerfd_settime(s[t].fd, 0, &its, NULL) != 0) { perror("timerfd_settime"); exit(2); }
            break;
        }
        case SIGNAL: {
            sigset_t m;
            sigemptyset(&m);
            unsigned long long bits = draw(1ULL << 30) | 1;
            for (int sig = 1; sig <= 30; sig++) if (bits >> (sig - 1) & 1 && sig != SIGKILL && sig != SIGSTOP) sigaddset(&m, sig);
            int k = add(SIGNAL, signalfd(-1, &m, 0), limit);
            s[k].value = bits & ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
            break;
        }
        case MEMFD: case FILE_: {
            int f;
            char path[512];
            if (kind == MEMFD) f = memfd_create("fdlayout", 0);
            else { snprintf(path, sizeof path, "%s/fdlayout-file.%d", dir, count); f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600); }
            if (f < 0) { perror("open"); exit(2); }
            int k = add(kind, f, limit);
            pattern(buf, sizeof buf, (unsigned long long)k * 31);
            if (write(s[k].fd, buf, sizeof buf) != (ssize_t)sizeof buf) { perror("write"); exit(2); }
            s[k].value = draw(sizeof buf);
            lseek(s[k].fd, (off_t)s[k].value, SEEK_SET);
            break;
        }
        case DEVNULL:
            add(DEVNULL, open("/dev/null", O_RDONLY), limit);
            break;
        case DUP: {
            if (count == 0) break;
            int of = (int)draw((unsigned long long)count);
            if (s[of].kind == DUP) break;
            int k = add(DUP, dup(s[of].fd), limit);
            s[k].peer = of;
            break;
        }
        }
    }
    for (int k = 0; k < count; k++) set_flags(&s[k]);
    /* Duplicates share their file's status flags: the last set wins for both. */
    for (int k = 0; k < count; k++) if (s[k].kind == DUP) s[s[k].peer].nonblock = s[k].nonblock;
    epfd = place(epoll_create1(0), limit);
    for (int k = 0; k < count; k++) {
        /* Regular files, memfds and /dev/null cannot be watched (EPERM). */
        if (s[k].kind == DUP || s[k].kind == MEMFD || s[k].kind == FILE_ || s[k].kind == DEVNULL || draw(2)) continue;
        s[k].events = (draw(2) ? EPOLLIN : 0) | (draw(2) ? EPOLLOUT : 0) | (draw(3) == 0 ? EPOLLET : 0) | EPOLLRDHUP;
        s[k].data = seed_mix(rng + (unsigned long long)k);
        struct epoll_event ev = { .events = (uint32_t)s[k].events, .data.u64 = s[k].data };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, s[k].fd, &ev) != 0) { printf("FAIL: epoll_ctl %d: %m\n", s[k].fd); exit(1); }
    }
}

static const char *names[] = { "pipe read end", "pipe write end", "stream socket", "datagram socket", "eventfd", "timerfd",
                               "signalfd", "memfd", "file", "/dev/null", "dup" };

/* The fdinfo line of `tfd: N` in the epoll's fdinfo: events and data. */
static int watch_of(int fd, unsigned long long *events, unsigned long long *data) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        int tfd;
        if (sscanf(line, "tfd: %d events: %llx data: %llx", &tfd, events, data) == 3 && tfd == fd) { found = 1; break; }
    }
    fclose(f);
    return found;
}

static void check(void) {
    unsigned char want[512], got[600];
    for (int k = 0; k < count; k++) {
        struct slot *x = &s[k];
        int fd = x->fd;
        const char *what = names[x->kind];
        int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
        if (fl == -1) { fail("fd %d (%s) is not open", fd, what); continue; }
        if (!!(fl & O_NONBLOCK) != x->nonblock && x->kind != DUP) fail("fd %d (%s): O_NONBLOCK %d, want %d", fd, what, !!(fl & O_NONBLOCK), x->nonblock);
        if (!!(fdfl & FD_CLOEXEC) != x->cloexec) fail("fd %d (%s): close-on-exec %d, want %d", fd, what, !!(fdfl & FD_CLOEXEC), x->cloexec);
        unsigned long long ev = 0, data = 0;
        int watched = watch_of(fd, &ev, &data);
        /* (epoll_ctl adds EPOLLERR and EPOLLHUP to every watch.) */
        if (x->events && (!watched || ev != (x->events | EPOLLERR | EPOLLHUP) || data != x->data))
            fail("fd %d (%s): epoll watch %s events %llx data %llx, want %llx %llx", fd, what, watched ? "" : "missing", ev, data, x->events, x->data);
        if (!x->events && watched) fail("fd %d (%s): watched by the epoll, and was not", fd, what);
        switch (x->kind) {
        case PIPE_R: case STREAM: case DGRAM:
            if (x->kind != PIPE_R && x->value == 0) break;  /* the end that holds nothing to read */
            {
                pattern(want, x->value, (unsigned long long)k * 977);
                ssize_t n = recv(fd, got, sizeof got, MSG_DONTWAIT);
                if (n < 0 && x->kind == PIPE_R) n = read(fd, got, sizeof got);
                if (n != (ssize_t)x->value || memcmp(got, want, x->value) != 0) fail("fd %d (%s): %zd bytes queued, want %llu", fd, what, n, x->value);
            }
            break;
        case EVENT: {
            unsigned long long v = 0;
            if (read(fd, &v, 8) != 8 || v != x->value) fail("fd %d (eventfd): counter %llu, want %llu", fd, v, x->value);
            break;
        }
        case TIMER: {
            struct itimerspec its;
            timerfd_gettime(fd, &its);
            unsigned long long ms = (unsigned long long)its.it_interval.tv_sec * 1000 + (unsigned long long)its.it_interval.tv_nsec / 1000000;
            if (ms != x->value || (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)) fail("fd %d (timerfd): interval %llu ms, want %llu, armed %d", fd, ms, x->value, its.it_value.tv_sec || its.it_value.tv_nsec);
            break;
        }
        case SIGNAL: {
            char path[64], line[256];
            unsigned long long mask = 0;
            snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
            FILE *f = fopen(path, "r");
            while (f && fgets(line, sizeof line, f)) sscanf(line, "sigmask: %llx", &mask);
            if (f) fclose(f);
            if (mask != x->value) fail("fd %d (signalfd): mask %llx, want %llx", fd, mask, x->value);
            break;
        }
        case MEMFD: case FILE_: {
            off_t at = lseek(fd, 0, SEEK_CUR);
            if ((unsigned long long)at != x->value) fail("fd %d (%s): offset %lld, want %llu", fd, what, (long long)at, x->value);
            pattern(want, sizeof want, (unsigned long long)k * 31);
            if (pread(fd, got, sizeof want, 0) != (ssize_t)sizeof want || memcmp(got, want, sizeof want) != 0) fail("fd %d (%s): contents differ", fd, what);
            break;
        }
        case DEVNULL: {
            struct stat st;
            if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode)) fail("fd %d is not /dev/null", fd);
            break;
        }
        case DUP: {
            /* One open file: an offset moved through one shows through the other. */
            struct slot *o = &s[x->peer];
            if (o->kind == MEMFD || o->kind == FILE_) {
                lseek(fd, 7, SEEK_SET);
                if (lseek(o->fd, 0, SEEK_CUR) != 7) fail("fd %d is not the same open file as fd %d", fd, o->fd);
                lseek(fd, (off_t)o->value, SEEK_SET);
            }
            int ofl = fcntl(o->fd, F_GETFL);
            if ((ofl & O_NONBLOCK) != (fl & O_NONBLOCK)) fail("fd %d and its original fd %d differ in O_NONBLOCK", fd, o->fd);
            break;
        }
        }
    }
}

int main(int argc, char **argv) {
    rng = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    const char *dir = argc > 2 ? argv[2] : ".";
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    int limit = lim.rlim_cur > 100000 ? 100000 : (int)lim.rlim_cur;
    make(dir, limit);
    printf("%d descriptors, epoll at %d, limit %d\n", count, epfd, limit);
    ready();
    wait_for_term();
    check();
    return finish();
}
