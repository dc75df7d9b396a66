/* Threads that spend nearly all their time inside an rseq critical section
 * (glibc's registered rseq area, or one of their own): a long loop between
 * setting rseq_cs and the commit, which reads rseq_cs back. A thread stopped
 * inside must be sent to the abort handler when it runs again, as the
 * kernel does after any preemption: a section that commits must still see
 * its own descriptor. The checks run across a live checkpoint and a restart
 * alike; aborts are counted, a commit that lost its descriptor is a FAIL. */
#include "fixture.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/rseq.h>

#define SIGNATURE 0x53053053
#define THREADS 2

static atomic_long commits, aborts, lost;
static atomic_int stop_threads;

/* One pass through the section: 0 when it committed, 1 when aborted.
 * `seen` receives rseq_cs as read at the commit. */
static int critical(volatile uint64_t *rseq_cs, uint64_t *seen) {
    __asm__ goto(
        ".pushsection __swiftcr_rseq_cs, \"aw\"\n\t"
        ".balign 32\n\t"
        "10: .long 0, 0\n\t"
        ".quad 11f, (12f - 11f), 13f\n\t"
        ".popsection\n\t"
        "leaq 10b(%%rip), %%rax\n\t"
        "movq %%rax, (%[cs])\n\t"
        "11:\n\t"
        "movq $10000000, %%rcx\n\t"
        "14: decq %%rcx\n\t"
        "jnz 14b\n\t"
        "movq (%[cs]), %%rax\n\t"
        "movq %%rax, (%[seen])\n\t"
        "12:\n\t"
        ".pushsection __swiftcr_rseq_abort, \"ax\"\n\t"
        ".byte 0x0f, 0xb9, 0x3d\n\t"
        ".long 0x53053053\n\t"
        "13: jmp %l[aborted]\n\t"
        ".popsection\n\t"
        :
        : [cs] "r"(rseq_cs), [seen] "r"(seen)
        : "rax", "rcx", "memory", "cc"
        : aborted);
    return 0;
aborted:
    return 1;
}

static __thread struct rseq own_area __attribute__((aligned(32)));

/* This thread's rseq area: glibc's, or one registered here where glibc has none. */
static volatile struct rseq *area(void) {
    if (__rseq_size > 0) return (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
    if (syscall(SYS_rseq, &own_area, sizeof own_area, 0, SIGNATURE) != 0) return NULL;
    return &own_area;
}

static void *loop(void *arg) {
    (void)arg;
    leave_term_to_main();
    volatile struct rseq *rs = area();
    if (!rs) { fail("rseq registration: %s", strerror(errno)); return NULL; }
    while (!atomic_load(&stop_threads)) {
        uint64_t seen = 0;
        if (critical((volatile uint64_t *)&rs->rseq_cs, &seen)) atomic_fetch_add(&aborts, 1);
        else if (seen == 0) atomic_fetch_add(&lost, 1);  /* cleared under it, and no abort */
        else atomic_fetch_add(&commits, 1);
    }
    return NULL;
}

int main(void) {
    pthread_t threads[THREADS];
    for (int k = 0; k < THREADS; k++)
        if (pthread_create(&threads[k], NULL, loop, NULL) != 0) { printf("FAIL: pthread_create\n"); return 1; }
    /* At least one section through before the checkpoint. */
    while (atomic_load(&commits) + atomic_load(&aborts) == 0) usleep(1000);
    ready();
    wait_for_term();
    long before = atomic_load(&commits);
    /* A few more after the restart (preempted ones abort and go again). */
    for (int ms = 0; ms < 10000 && atomic_load(&commits) < before + THREADS && !atomic_load(&lost); ms++) usleep(1000);
    if (atomic_load(&commits) == before) fail("no critical section committed in 10 s after the restart");
    atomic_store(&stop_threads, 1);
    for (int k = 0; k < THREADS; k++) pthread_join(threads[k], NULL);
    if (atomic_load(&lost))
        fail("%ld critical sections committed after rseq_cs was cleared under them (no abort)", atomic_load(&lost));
    printf("commits %ld, aborts %ld\n", atomic_load(&commits), atomic_load(&aborts));
    return finish();
}
