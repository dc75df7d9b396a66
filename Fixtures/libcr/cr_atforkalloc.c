/* libcr's atfork child handler must not allocate: in a forked child any
 * lock another thread held at the fork stays held (malloc's, the Swift
 * runtime's), so an allocation there can hang the child for good. That hang
 * needs an unlucky instant (cr_forkrace tries for it); this test sees the
 * cause every time instead. It interposes malloc and its kin, and counts
 * calls made in a child between the fork and its own atfork child handler,
 * which runs after libcr's (child handlers run in the order registered, and
 * libcr registered at load). Forks before and after cr_init(), with the
 * agent thread running. Usage: cr_atforkalloc */
#include <libcr.h>
#include <pthread.h>
#include <sys/wait.h>
#include "fixture.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile pid_t forking_parent;  /* nonzero from the prepare handler on */
static volatile int child_allocations;

static void count_if_in_child(void) {
    if (forking_parent != 0 && getpid() != forking_parent) child_allocations++;
}

void *malloc(size_t size) { count_if_in_child(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { count_if_in_child(); return __libc_calloc(count, size); }
void *realloc(void *old, size_t size) { count_if_in_child(); return __libc_realloc(old, size); }
void *memalign(size_t align, size_t size) { count_if_in_child(); return __libc_memalign(align, size); }
void *aligned_alloc(size_t align, size_t size) { count_if_in_child(); return __libc_memalign(align, size); }
int posix_memalign(void **out, size_t align, size_t size) {
    count_if_in_child();
    void *p = __libc_memalign(align, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

static void before_fork(void) { forking_parent = getpid(); }
static void after_fork_parent(void) { forking_parent = 0; }
static int seen_in_child;
static void after_fork_child(void) { seen_in_child = child_allocations; forking_parent = 0; }

/* Forks ROUNDS children; each exits with the number of allocations it saw. */
static void fork_and_check(const char *when, int rounds) {
    for (int r = 0; r < rounds; r++) {
        pid_t pid = fork();
        if (pid < 0) { fail("fork %s: %s", when, strerror(errno)); return; }
        if (pid == 0) _exit(seen_in_child > 100 ? 100 : seen_in_child);
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) { fail("child forked %s did not exit", when); return; }
        if (WEXITSTATUS(status) != 0) {
            fail("libcr's atfork child handler allocated %d time(s) in a child forked %s", WEXITSTATUS(status), when);
            return;
        }
    }
}

int main(void) {
    if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) { fail("pthread_atfork"); return finish(); }
    fork_and_check("before cr_init()", 5);
    if (cr_init() < 0) { fail("cr_init: %s", strerror(errno)); return finish(); }
    fork_and_check("right after cr_init()", 5);
    usleep(50000);  /* the agent thread is up and waiting */
    fork_and_check("with the agent thread running", 20);
    return finish();
}
