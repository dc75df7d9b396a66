/* A thread whose stack is a small piece of a larger anonymous mapping, with
 * the program's data right below it and its stack pointer 1 KiB above that
 * data, as Go places its threads' stacks among goroutine stacks in its heap.
 * The thread waits in read(2) across the checkpoint. A checkpointer that
 * writes anything below a stack pointer (a parked thread's signal frame)
 * overwrites that data, in the image and in the running process alike.
 * After the restart (and in a process only checkpointed): the data is
 * intact, and the thread still answers. */
#include "fixture.h"
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/select.h>

#define REGION (1 << 20)
#define DATA (256 << 10)

static int request[2], answer[2];

/* Inline system calls only: the thread shares the main thread's TLS, and a
 * library call (its first through the PLT saves the FPU state) would not fit. */
static long raw3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static int waiter(void *arg) {
    (void)arg;
    char c;
    while (raw3(SYS_read, request[0], (long)&c, 1) == 1) raw3(SYS_write, answer[1], (long)&c, 1);
    return 0;
}

static uint64_t pattern(size_t k) { return seed_mix(k) | 1; }

int main(void) {
    uint64_t *region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED || pipe(request) || pipe(answer)) { fail("setup: %s", strerror(errno)); return finish(); }
    for (size_t k = 0; k < REGION / 8; k++) region[k] = pattern(k);
    /* The stack: from DATA up; the thread starts 1 KiB above its bottom. */
    char *top = (char *)region + DATA + 1024;
    /* It takes no signal (a frame would not fit there): born with all blocked. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    int made = clone(waiter, top, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (made < 0) {
        fail("clone: %s", strerror(errno));
        return finish();
    }
    ready();
    wait_for_term();

    size_t bad = 0;
    for (size_t k = 0; k < DATA / 8; k++) bad += region[k] != pattern(k);
    if (bad) fail("%zu words of the data below the thread's stack were changed", bad);
    char c = 'x';
    struct timeval tv = { 5, 0 };
    fd_set in;
    FD_ZERO(&in);
    FD_SET(answer[0], &in);
    if (write(request[1], &c, 1) != 1 || select(answer[0] + 1, &in, NULL, NULL, &tv) != 1 || read(answer[0], &c, 1) != 1)
        fail("the thread on the small stack does not answer");
    return finish();
}
