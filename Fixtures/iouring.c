/* An io_uring instance, by its system calls (no liburing): rings mapped,
 * a no-op submitted and completed before READY. With "sqpoll" the ring has
 * a kernel thread polling its submissions (iou-sqp-PID), which never takes
 * a ptrace stop. A checkpoint of either is refused (the ring's state is the
 * kernel's); after it the ring must still work: a second no-op completes.
 * Usage: iouring plain|sqpoll */
#include "fixture.h"
#include <linux/io_uring.h>
#include <stdatomic.h>
#include <sys/mman.h>

struct ring {
    int fd;
    unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask, *sq_flags;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    int sqpoll;
};

static int setup(struct ring *r, int sqpoll) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    if (sqpoll) { p.flags = IORING_SETUP_SQPOLL; p.sq_thread_idle = 60000; }
    r->sqpoll = sqpoll;
    r->fd = (int)syscall(__NR_io_uring_setup, 4, &p);
    if (r->fd < 0) { fail("io_uring_setup: %s", strerror(errno)); return -1; }
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    char *cq = mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
    r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED) { fail("mmap of the rings: %s", strerror(errno)); return -1; }
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->sq_flags = (unsigned *)(sq + p.sq_off.flags);
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
}

/* Submits one no-op and waits for its completion; 0 when it came back with its tag. */
static int nop(struct ring *r, unsigned long long tag) {
    unsigned tail = *r->sq_tail, index = tail & *r->sq_mask;
    memset(&r->sqes[index], 0, sizeof r->sqes[index]);
    r->sqes[index].opcode = IORING_OP_NOP;
    r->sqes[index].user_data = tag;
    r->sq_array[index] = index;
    atomic_store_explicit((_Atomic unsigned *)r->sq_tail, tail + 1, memory_order_release);
    unsigned flags = IORING_ENTER_GETEVENTS;
    if (r->sqpoll && (atomic_load((_Atomic unsigned *)r->sq_flags) & IORING_SQ_NEED_WAKEUP)) flags |= IORING_ENTER_SQ_WAKEUP;
    if (syscall(__NR_io_uring_enter, r->fd, r->sqpoll ? 0 : 1, 1, flags, NULL, 0) < 0) { fail("io_uring_enter: %s", strerror(errno)); return -1; }
    unsigned head = *r->cq_head;
    if (head == atomic_load_explicit((_Atomic unsigned *)r->cq_tail, memory_order_acquire)) { fail("no completion for no-op %llu", tag); return -1; }
    struct io_uring_cqe *c = &r->cqes[head & *r->cq_mask];
    int ok = c->user_data == tag && c->res == 0;
    if (!ok) fail("no-op %llu completed as %llu with %d", tag, (unsigned long long)c->user_data, c->res);
    atomic_store_explicit((_Atomic unsigned *)r->cq_head, head + 1, memory_order_release);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    int sqpoll = argc > 1 && strcmp(argv[1], "sqpoll") == 0;
    struct ring r;
    if (setup(&r, sqpoll) != 0 || nop(&r, 41) != 0) return finish();
    ready();
    wait_for_term();
    nop(&r, 42);
    return finish();
}
