// CLibCR: what libcr's Swift code cannot express itself: a load-time
// constructor (which only calls into Swift), C11 atomics on plain ints, and
// the siginfo fields of a real-time signal. No logic.
#ifndef SWIFTCR_CLIBCR_H
#define SWIFTCR_CLIBCR_H
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int cr_atomic_load(volatile int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void cr_atomic_store(volatile int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline int cr_atomic_add(volatile int *p, int v) { return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST); }
static inline int cr_atomic_cas(volatile int *p, int expected, int desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/// syscall(2) is variadic, which Swift cannot call.
static inline long cr_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
    return syscall(nr, a1, a2, a3, a4, a5, a6);
}

static inline int cr_siginfo_code(const siginfo_t *si) { return si->si_code; }
static inline pid_t cr_siginfo_pid(const siginfo_t *si) { return si->si_pid; }
static inline int cr_siginfo_value(const siginfo_t *si) { return si->si_value.sival_int; }
/// The high half of the 64-bit si_value (the checkpointer's own PID).
static inline int cr_siginfo_value_high(const siginfo_t *si) { return (int)((unsigned long)si->si_value.sival_ptr >> 32); }

/// GNU extensions glibc hides from Swift's Glibc module (defined in load.c,
/// built with _GNU_SOURCE; this header stays standard so it agrees with CLinux).
int cr_pipe2(int fds[2], int flags);
/// The file a loaded address belongs to (dladdr), or NULL.
const char *cr_loaded_from(const void *address);

/// struct ucred (SO_PEERCRED), which glibc hides behind _GNU_SOURCE.
struct cr_peer_cred { pid_t pid; uid_t uid; gid_t gid; };

/// Implemented in Swift (@_cdecl): called once when the library is loaded.
void swiftcr_libcr_loaded(void);
#endif
