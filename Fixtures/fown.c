/* Open files that signal and leases: a pipe with O_ASYNC, owned by this
 * process (F_SETOWN) with F_SETSIG SIGRTMIN+1, a socketpair end owned with
 * F_SETOWN_EX by this thread with plain SIGIO, a read lease and a write
 * lease on files of DIR. After restart the owners, signals and leases
 * read back the same, and writing to the pipe and the socket raises the
 * signals (with si_fd saying which descriptor); the pipe's flags are the
 * same (O_ASYNC, and no O_LARGEFILE). Two write leases whose break had
 * begun (one by a reader, one by a writer) are still being broken: cut to
 * read, and to be given up; their holder got one signal each, not two.
 * Usage: fown DIR */
#include "fixture.h"
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static volatile sig_atomic_t rt_fd = -1, io_count;

static void on_rt(int sig, siginfo_t *si, void *uc) { (void)sig; (void)uc; rt_fd = si->si_fd; }
static void on_io(int sig) { (void)sig; io_count++; }
static volatile sig_atomic_t breaks;
static void on_break(int sig) { (void)sig; breaks++; }

/* A write lease on `path` whose break an open of `how` has begun. */
static int breaking(const char *path, int how) {
    int fd = open(path, O_RDONLY | O_CREAT, 0644);
    if (fd < 0 || fcntl(fd, F_SETLEASE, F_WRLCK) != 0 || fcntl(fd, F_SETSIG, SIGRTMIN + 2) != 0) return -1;
    int other = open(path, how | O_NONBLOCK);
    if (other >= 0 || errno != EWOULDBLOCK) return -1;
    return fd;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    int p[2], sv[2];
    if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) { fail("pipe/socketpair"); return finish(); }
    struct sigaction sa = { 0 };
    sa.sa_sigaction = on_rt;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMIN + 1, &sa, NULL);
    signal(SIGIO, on_io);
    if (fcntl(p[0], F_SETOWN, getpid()) != 0 || fcntl(p[0], F_SETSIG, SIGRTMIN + 1) != 0 ||
        fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_ASYNC) != 0) fail("arming the pipe");
    struct f_owner_ex me = { F_OWNER_TID, (pid_t)syscall(SYS_gettid) };
    if (fcntl(sv[0], F_SETOWN_EX, &me) != 0 || fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_ASYNC) != 0) fail("arming the socket");

    int pipe_flags = fcntl(p[0], F_GETFL);  /* pipe() gives no O_LARGEFILE, which no F_SETFL can take away */
    char rd[256], wr[256];
    snprintf(rd, sizeof rd, "%s/read-leased", dir);
    snprintf(wr, sizeof wr, "%s/write-leased", dir);
    int r = open(rd, O_RDONLY | O_CREAT, 0644), w = open(wr, O_WRONLY | O_CREAT, 0644);
    int leases = fcntl(r, F_SETLEASE, F_RDLCK) == 0 && fcntl(w, F_SETLEASE, F_WRLCK) == 0;
    if (!leases) printf("no leases here (%s): not checked\n", strerror(errno));
    signal(SIGRTMIN + 2, on_break);
    char cut[256], gone[256];
    snprintf(cut, sizeof cut, "%s/lease-cut", dir);
    snprintf(gone, sizeof gone, "%s/lease-gone", dir);
    int bc = leases ? breaking(cut, O_RDONLY) : -1, bg = leases ? breaking(gone, O_WRONLY) : -1;
    if (leases && (bc < 0 || bg < 0)) fail("breaking leases: %s", strerror(errno));
    for (int i = 0; i < 100 && breaks < 2; i++) usleep(10000);

    ready();
    wait_for_term();

    if (fcntl(p[0], F_GETFL) != pipe_flags) fail("pipe flags %o, want %o", fcntl(p[0], F_GETFL), pipe_flags);
    if (fcntl(p[0], F_GETOWN) != getpid()) fail("pipe owner is %d, want %d", fcntl(p[0], F_GETOWN), getpid());
    if (fcntl(p[0], F_GETSIG) != SIGRTMIN + 1) fail("pipe signal is %d", fcntl(p[0], F_GETSIG));
    struct f_owner_ex got = { 0, 0 };
    fcntl(sv[0], F_GETOWN_EX, &got);
    pid_t tid = (pid_t)syscall(SYS_gettid);  /* new PIDs: a new thread ID too */
    if (got.type != F_OWNER_TID || got.pid != tid) fail("socket owner is %d/%d, want thread %d", got.type, got.pid, tid);
    if (leases && fcntl(r, F_GETLEASE) != F_RDLCK) fail("read lease is %d", fcntl(r, F_GETLEASE));
    if (leases && fcntl(w, F_GETLEASE) != F_WRLCK) fail("write lease is %d", fcntl(w, F_GETLEASE));
    if (leases && fcntl(bc, F_GETLEASE) != F_RDLCK) fail("the lease being cut to read is %d", fcntl(bc, F_GETLEASE));
    if (leases && fcntl(bg, F_GETLEASE) != F_UNLCK) fail("the lease being given up is %d", fcntl(bg, F_GETLEASE));
    usleep(20000);
    if (leases && breaks != 2) fail("%d lease-break signals, want 2 (one each, before the checkpoint)", (int)breaks);
    if (leases && fcntl(bc, F_GETSIG) != SIGRTMIN + 2) fail("a leased file's signal is %d", fcntl(bc, F_GETSIG));

    if (write(p[1], "x", 1) != 1) fail("write to the pipe");
    for (int i = 0; i < 100 && rt_fd < 0; i++) usleep(10000);
    if (rt_fd != p[0]) fail("no SIGRTMIN+1 for the pipe (si_fd %d)", (int)rt_fd);
    if (write(sv[1], "y", 1) != 1) fail("write to the socket");
    for (int i = 0; i < 100 && io_count == 0; i++) usleep(10000);
    if (io_count == 0) fail("no SIGIO for the socket");
    return finish();
}
