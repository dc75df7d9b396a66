/* Descriptors at the top of the open-file limit, as valgrind keeps its own:
 * `highfds SEED`. The soft limit is raised to a seeded number above the one
 * it started with (as far as the hard limit allows), and a pipe's two ends,
 * a file and an epoll instance watching the pipe go at seeded numbers among
 * the highest below it, the top one at limit - 1; fd 3 is a low one. After
 * the restart every descriptor is at its number with its file, the epoll
 * watch fires, bytes go through the pipe, and the limit is the same. */
#include "fixture.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>

static void place(int fd, int at) {
    if (fd == at) return;
    if (dup2(fd, at) != at) { printf("FAIL: dup2 to %d: %m\n", at); exit(1); }
    close(fd);
}

int main(int argc, char **argv) {
    unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    rlim_t soft = lim.rlim_cur + 1 + seed_mix(seed) % 3000;
    if (lim.rlim_max != RLIM_INFINITY && soft > lim.rlim_max) soft = lim.rlim_max;
    lim.rlim_cur = soft;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) { perror("setrlimit"); return 2; }
    int top = (int)soft - 1;
    /* Seeded gaps between the high descriptors, the pipe's write end at the top. */
    int writer_at = top, reader_at = top - 1 - (int)(seed_mix(seed + 1) % 4);
    int file_at = reader_at - 1 - (int)(seed_mix(seed + 2) % 5), epoll_at = file_at - 1 - (int)(seed_mix(seed + 3) % 3);
    int p[2];
    if (pipe(p) != 0) { perror("pipe"); return 2; }
    place(p[1], writer_at);
    place(p[0], reader_at);
    place(open("/proc/self/exe", O_RDONLY), file_at);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x5eed0000ULL + seed % 0xffff };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, reader_at, &ev) != 0) { perror("epoll_ctl"); return 2; }
    place(ep, epoll_at);
    int low = open("/dev/null", O_RDONLY);
    place(low, 3);
    printf("limit %llu: pipe %d -> %d, file %d, epoll %d\n", (unsigned long long)soft, writer_at, reader_at, file_at, epoll_at);
    ready();
    wait_for_term();

    struct rlimit now;
    getrlimit(RLIMIT_NOFILE, &now);
    if (now.rlim_cur != soft) fail("open-file limit %llu, was %llu", (unsigned long long)now.rlim_cur, (unsigned long long)soft);
    struct stat st;
    if (fstat(file_at, &st) != 0 || !S_ISREG(st.st_mode)) fail("fd %d is not the regular file", file_at);
    if (fstat(3, &st) != 0 || !S_ISCHR(st.st_mode)) fail("fd 3 is not /dev/null");
    if (write(writer_at, "x", 1) != 1) fail("write to fd %d: %m", writer_at);
    struct epoll_event got;
    int n = epoll_wait(epoll_at, &got, 1, 2000);
    if (n != 1 || got.data.u64 != ev.data.u64) fail("epoll fd %d: %d events, data %llx", epoll_at, n, (unsigned long long)(n == 1 ? got.data.u64 : 0));
    char c = 0;
    if (read(reader_at, &c, 1) != 1 || c != 'x') fail("read from fd %d: %m", reader_at);
    /* Nothing of the restorer's left between them. */
    for (int fd = 4; fd < top; fd++) {
        if (fd == reader_at || fd == file_at || fd == epoll_at) continue;
        if (fcntl(fd, F_GETFD) != -1) fail("fd %d is open, and was not", fd);
    }
    return finish();
}
