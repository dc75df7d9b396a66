/* NUMA memory policies: the main thread interleaves (set_mempolicy), a
 * second thread prefers node 0, one mapping is bound to node 0 with
 * MPOL_F_STATIC_NODES, a shared one prefers node 0 (mbind), a third has
 * none of its own. After restart get_mempolicy reads each back the same
 * (threads: their own; mappings: MPOL_F_ADDR) and the bytes are there.
 * numactl --interleave and hwloc set such policies. Usage: numa */
#include "fixture.h"
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define MPOL_DEFAULT 0
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_F_STATIC_NODES (1 << 15)
#define MPOL_F_ADDR (1 << 1)
#define MAXNODE 1024

static long set_policy(int mode, unsigned long mask) { return syscall(SYS_set_mempolicy, mode, &mask, (unsigned long)MAXNODE); }
static long mbind_to(void *at, size_t len, int mode, unsigned long mask) { return syscall(SYS_mbind, at, len, mode, &mask, (unsigned long)MAXNODE, 0); }
static int policy(void *at, unsigned long *mask) {
    int mode = -1;
    unsigned long m[MAXNODE / 64] = {0};
    if (syscall(SYS_get_mempolicy, &mode, m, (unsigned long)MAXNODE, at, at ? MPOL_F_ADDR : 0) != 0) return -1;
    *mask = m[0];
    return mode;
}

static pthread_barrier_t meet;
static int second_mode = -1;
static unsigned long second_mask;
static void *second(void *arg) {
    (void)arg;
    leave_term_to_main();
    if (set_policy(MPOL_PREFERRED, 1) != 0) fail("set_mempolicy(preferred): %s", strerror(errno));
    pthread_barrier_wait(&meet);
    pthread_barrier_wait(&meet);
    second_mode = policy(NULL, &second_mask);
    return NULL;
}

static void expect(const char *what, int mode, unsigned long mask, int want_mode, unsigned long want_mask) {
    if (mode != want_mode || (want_mode != MPOL_DEFAULT && mask != want_mask))
        fail("%s: mode %#x nodes %#lx, want %#x %#lx", what, mode, mask, want_mode, want_mask);
}

int main(void) {
    size_t len = 16 * 4096;
    char *bound = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *shared = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *plain = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (bound == MAP_FAILED || shared == MAP_FAILED || plain == MAP_FAILED) { fail("mmap"); return finish(); }
    if (mbind_to(bound, len, MPOL_BIND | MPOL_F_STATIC_NODES, 1) != 0) fail("mbind(bind): %s", strerror(errno));
    if (mbind_to(shared, len, MPOL_PREFERRED, 1) != 0) fail("mbind(preferred): %s", strerror(errno));
    for (size_t i = 0; i < len; i++) { bound[i] = (char)(i * 7); shared[i] = (char)(i * 11); plain[i] = (char)(i * 13); }
    if (set_policy(MPOL_INTERLEAVE, 1) != 0) fail("set_mempolicy(interleave): %s", strerror(errno));
    pthread_t t;
    pthread_barrier_init(&meet, NULL, 2);
    pthread_create(&t, NULL, second, NULL);
    pthread_barrier_wait(&meet);

    ready();
    wait_for_term();

    pthread_barrier_wait(&meet);
    pthread_join(t, NULL);
    unsigned long mask = 0;
    int mode = policy(NULL, &mask);
    expect("the main thread", mode, mask, MPOL_INTERLEAVE, 1);
    expect("the second thread", second_mode, second_mask, MPOL_PREFERRED, 1);
    mode = policy(bound, &mask);
    expect("the bound mapping", mode, mask, MPOL_BIND | MPOL_F_STATIC_NODES, 1);
    mode = policy(shared, &mask);
    expect("the shared mapping", mode, mask, MPOL_PREFERRED, 1);
    mode = policy(plain, &mask);
    expect("the mapping without a policy", mode, mask, MPOL_DEFAULT, 0);
    for (size_t i = 0; i < len; i++) {
        if (bound[i] != (char)(i * 7) || shared[i] != (char)(i * 11) || plain[i] != (char)(i * 13)) { fail("byte %zu changed", i); break; }
    }
    return finish();
}
