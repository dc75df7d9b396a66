/* AIO contexts (io_setup): a seeded number of events per ring, and a
 * seeded count of completed requests, some of them already reaped, so the
 * ring's head and tail sit anywhere (past a wrap too). After restart the
 * context has the same ID (the ring's address), head, tail and size; the
 * events not reaped yet come back with their data; new requests work.
 * A second, idle context is kept too.
 * Usage: aioring DIR SEED */
#include "fixture.h"
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <sys/syscall.h>

struct ring { unsigned id, nr, head, tail, magic, compat, incompat, header; };

static long io_setup(unsigned n, aio_context_t *ctx) { return syscall(__NR_io_setup, n, ctx); }
static long io_submit(aio_context_t ctx, long n, struct iocb **iocbs) { return syscall(__NR_io_submit, ctx, n, iocbs); }
static long io_getevents(aio_context_t ctx, long min, long max, struct io_event *ev) {
    struct timespec none = {0, 0};
    return syscall(__NR_io_getevents, ctx, min, max, ev, &none);
}

/* Submits one write of a byte to fd tagged `id`; 0 on success. */
static int submitOne(aio_context_t ctx, int fd, uint64_t id) {
    static char byte = 'x';
    struct iocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_data = id;
    cb.aio_lio_opcode = IOCB_CMD_PWRITE;
    cb.aio_fildes = fd;
    cb.aio_buf = (uint64_t)(uintptr_t)&byte;
    cb.aio_nbytes = 1;
    struct iocb *p = &cb;
    return io_submit(ctx, 1, &p) == 1 ? 0 : -1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    unsigned seed = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
    srand(seed);
    char path[256];
    snprintf(path, sizeof path, "%s/aioring.%u", dir, seed);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(path); return 2; }
    unlink(path);

    aio_context_t ctx = 0, idle = 0;
    unsigned asked = 1 + rand() % 200;
    if (io_setup(asked, &ctx) != 0 || io_setup(1 + rand() % 8, &idle) != 0) { perror("io_setup"); return 2; }
    volatile struct ring *r = (volatile struct ring *)ctx;
    /* Requests complete at once (a write to a file); reaping some moves the head. */
    unsigned total = rand() % (2 * r->nr), reaped = 0;
    uint64_t next = 1, firstUnreaped = 1;
    for (unsigned k = 0; k < total; k++) {
        if (r->tail + 1 == r->head || (r->tail + 1) % r->nr == r->head) break;
        if (submitOne(ctx, fd, next) != 0) { perror("io_submit"); return 2; }
        next++;
        /* Keep fewer than half the ring waiting, so the loop can wrap. */
        unsigned waiting = (r->tail + r->nr - r->head) % r->nr;
        if (waiting > asked / 2 || rand() % 3 == 0) {
            struct io_event ev;
            if (io_getevents(ctx, 1, 1, &ev) != 1) { perror("io_getevents"); return 2; }
            if (ev.data != firstUnreaped) fail("before: event %llu, want %llu", (unsigned long long)ev.data, (unsigned long long)firstUnreaped);
            firstUnreaped++;
            reaped++;
        }
    }
    struct ring before = { r->id, r->nr, r->head, r->tail, r->magic, 0, 0, 0 };
    ready();
    wait_for_term();

    if (r->nr != before.nr || r->head != before.head || r->tail != before.tail || r->magic != before.magic)
        fail("ring nr/head/tail/magic %u/%u/%u/%x, was %u/%u/%u/%x", r->nr, r->head, r->tail, r->magic, before.nr, before.head, before.tail, before.magic);
    /* The events not reaped yet, in order, with their data. */
    for (uint64_t want = firstUnreaped; want < next; want++) {
        struct io_event ev;
        long n = io_getevents(ctx, 0, 1, &ev);
        if (n != 1) { fail("event %llu is gone (%ld)", (unsigned long long)want, n); break; }
        if (ev.data != want || ev.res != 1) fail("event data %llu res %lld, want %llu res 1", (unsigned long long)ev.data, (long long)ev.res, (unsigned long long)want);
    }
    struct io_event ev;
    if (io_getevents(ctx, 0, 1, &ev) != 0) fail("more events than were waiting");
    /* Still a working context, and so is the idle one. */
    if (submitOne(ctx, fd, 777) != 0 || io_getevents(ctx, 1, 1, &ev) != 1 || ev.data != 777) fail("a new request on the restored context: %s", strerror(errno));
    if (submitOne(idle, fd, 778) != 0 || io_getevents(idle, 1, 1, &ev) != 1 || ev.data != 778) fail("the idle context: %s", strerror(errno));
    printf("nr %u head %u tail %u reaped %u of %llu\n", before.nr, before.head, before.tail, reaped, (unsigned long long)next - 1);
    return finish();
}
