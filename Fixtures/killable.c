/* A target for killing the checkpointer half way: `killable MIB`. It holds
 * MIB MiB of seeded data, a signal mask (SIGUSR1 blocked), an alternate
 * signal stack, a SIGUSR2 handler, and a busy loop that keeps two equal
 * floating-point values in registers. It answers each SIGUSR2 with
 * "ANSWER n". On SIGTERM it checks that its memory, mask, alternate stack,
 * mappings and descriptors are exactly as before, and prints PASS. On SIGHUP
 * (scripts/soak.sh, across restarts) it checks what a restart must keep
 * (memory, mask, alternate stack, the pipe's bytes) and prints "CHECK n PASS". */
#include <sys/ioctl.h>
#include "fixture.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>

static volatile sig_atomic_t usr2_count, hup_count;
static void on_usr2(int sig) { (void)sig; usr2_count++; }
static void on_hup(int sig) { (void)sig; hup_count++; }

static uint64_t pattern(uint64_t i) {
    uint64_t z = i * 0x9e3779b97f4a7c15ULL + 0x1234;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    return z ^ (z >> 27);
}

static char maps_before[1 << 16], maps_now[1 << 16], fds_before[4096], fds_now[4096];

/* Into static buffers: no allocation, so the heap's mapping stays put. */
static void read_file(const char *path, char *buf, size_t size) {
    buf[0] = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    ssize_t n, total = 0;
    while ((n = read(fd, buf + total, size - 1 - total)) > 0) total += n;
    close(fd);
    buf[total] = 0;
}

/* "fd -> target" lines for every descriptor but the one reading the directory. */
static void fd_list(char *buf, size_t size) {
    char path[64], target[256];
    size_t used = 0;
    buf[0] = 0;
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0) continue;
        target[n] = 0;
        used += snprintf(buf + used, size - used, "%d %s\n", fd, target);
        if (used >= size) break;
    }
}

static uint64_t *mem;
static size_t bytes;
static int pipefd[2];
static stack_t alt;
static sigset_t mask_before;

/* strict: also mappings and descriptors exactly as before, and the pipe read out (no restart in between). */
static void check(int strict) {
    if (strict) {
        read_file("/proc/self/maps", maps_now, sizeof maps_now);
        if (strcmp(maps_now, maps_before) != 0) fail("mappings changed:\n%s\n---\n%s", maps_before, maps_now);
    }
    for (size_t i = 0; i < bytes / 8; i++)
        if (mem[i] != pattern(i)) { fail("memory differs at byte %zu", i * 8); break; }
    sigset_t now;
    sigemptyset(&now);
    sigprocmask(SIG_BLOCK, NULL, &now);
    for (int sig = 1; sig <= 64; sig++)
        if (sigismember(&now, sig) != sigismember(&mask_before, sig)) fail("signal mask changed at signal %d", sig);
    stack_t alt_now;
    sigaltstack(NULL, &alt_now);
    if (alt_now.ss_sp != alt.ss_sp || alt_now.ss_size != alt.ss_size || alt_now.ss_flags != 0) fail("alternate signal stack changed");
    int queued = -1;
    if (ioctl(pipefd[0], FIONREAD, &queued) != 0 || queued != 6) fail("pipe holds %d bytes, not 6", queued);
    if (!strict) return;
    fd_list(fds_now, sizeof fds_now);
    if (strcmp(fds_now, fds_before) != 0) fail("descriptors changed:\n%s\n---\n%s", fds_before, fds_now);
    char got[8] = {0};
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    if (read(pipefd[0], got, sizeof got) != 6 || memcmp(got, "queued", 6) != 0) fail("pipe lost its bytes");
}

int main(int argc, char **argv) {
    bytes = (size_t)(argc > 1 ? atoi(argv[1]) : 256) << 20;
    mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) { perror("mmap"); return 2; }
    for (size_t i = 0; i < bytes / 8; i++) mem[i] = pattern(i);
    if (pipe(pipefd) != 0) return 2;
    if (write(pipefd[1], "queued", 6) != 6) return 2;

    alt = (stack_t){ .ss_sp = malloc(65536), .ss_size = 65536, .ss_flags = 0 };
    sigaltstack(&alt, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    sigprocmask(SIG_SETMASK, &mask, NULL); /* exactly this, whatever the parent blocked */

    ready();
    fd_list(fds_before, sizeof fds_before);
    read_file("/proc/self/maps", maps_before, sizeof maps_before);
    sigemptyset(&mask_before);
    sigprocmask(SIG_BLOCK, NULL, &mask_before);

    volatile double seed = 1.0;
    double a = seed, b = seed;
    int answered = 0, checked = 0;
    while (!fixture_stop) {
        for (int k = 0; k < 100000; k++) {
            a = a * 1.0000001 + 0.5;
            b = b * 1.0000001 + 0.5;
            if (a > 1e12) { a = seed; b = seed; }
        }
        if (a != b) { fail("floating-point registers changed: %g != %g", a, b); break; }
        if (hup_count != checked) {
            checked = hup_count;
            int before = fixture_failures;
            check(0);
            printf("CHECK %d %s\n", checked, fixture_failures == before ? "PASS" : "FAIL");
            fflush(stdout);
        }
        if (usr2_count != answered) {
            answered = usr2_count;
            printf("ANSWER %d\n", answered);
            fflush(stdout);
        }
    }

    check(1);
    return finish();
}
