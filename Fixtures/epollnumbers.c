/* epoll watches keyed by a number that no longer names their file: each
 * pipe's read end is watched under its own descriptor, under a duplicate
 * closed since (the file stays watched through the original), or under a
 * duplicate whose number was then reused for an unwatched eventfd. After
 * restart each pipe, written in a seeded order, must wake the epoll with
 * its own data and no other; the reused numbers' eventfds must wake
 * nothing; and a watch added under a closed number must still be keyed by
 * that number (EPOLL_CTL_DEL through it succeeds once it names the file).
 * Usage: epollnumbers SEED */
#include "fixture.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#define MAX 48
static unsigned rng;
static unsigned next_random(void) { rng = rng * 1103515245u + 12345u; return rng >> 8; }

int main(int argc, char **argv) {
    rng = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    int n = 6 + (int)(next_random() % (MAX - 6));
    int rd[MAX], wr[MAX], how[MAX], key[MAX], reused[MAX];
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        int p[2];
        if (pipe(p) != 0) { fail("pipe"); return finish(); }
        rd[i] = p[0]; wr[i] = p[1]; how[i] = (int)(next_random() % 3); reused[i] = -1;
        /* High numbers, free and distinct: 600 + i. */
        key[i] = how[i] == 0 ? rd[i] : dup2(rd[i], 600 + i);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1000 + (uint64_t)i };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, key[i], &ev) != 0) { fail("epoll_ctl add %d: %s", key[i], strerror(errno)); return finish(); }
        if (how[i] != 0) close(key[i]);
        if (how[i] == 2) {
            /* The number now names another file, which nothing watches. */
            int e = eventfd(0, EFD_NONBLOCK);
            reused[i] = dup2(e, key[i]);
            close(e);
        }
    }
    printf("%d pipes\n", n);
    fflush(stdout);
    ready();
    wait_for_term();

    for (int i = 0; i < n; i++) {
        if (how[i] != 2) continue;
        uint64_t one = 1;
        if (write(reused[i], &one, sizeof one) != sizeof one) fail("eventfd at %d is gone", reused[i]);
    }
    struct epoll_event got;
    int stray = epoll_wait(ep, &got, 1, 0);
    if (stray != 0) fail("an unwatched file woke the epoll (data %#llx)", stray > 0 ? (unsigned long long)got.data.u64 : 0ULL);
    int order[MAX];
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) { int j = (int)(next_random() % (unsigned)(i + 1)), t = order[i]; order[i] = order[j]; order[j] = t; }
    for (int k = 0; k < n; k++) {
        int i = order[k];
        char c = 'x';
        if (write(wr[i], &c, 1) != 1) { fail("pipe %d: write", i); continue; }
        int r = epoll_wait(ep, &got, 1, 1000);
        if (r != 1) fail("pipe %d (watched %s): no event", i, how[i] == 0 ? "as itself" : how[i] == 1 ? "under a closed number" : "under a reused number");
        else if (got.data.u64 != 0x1000 + (uint64_t)i) fail("pipe %d: the event carried %#llx", i, (unsigned long long)got.data.u64);
        if (read(rd[i], &c, 1) != 1) fail("pipe %d: read", i);
    }
    /* The key is still the number the watch was added under. */
    for (int i = 0; i < n; i++) {
        if (how[i] != 1) continue;
        if (dup2(rd[i], key[i]) != key[i]) { fail("dup2"); continue; }
        if (epoll_ctl(ep, EPOLL_CTL_DEL, key[i], NULL) != 0) fail("pipe %d: not watched under fd %d any more (%s)", i, key[i], strerror(errno));
        close(key[i]);
    }
    return finish();
}
