/* POSIX message queues. A named queue with seeded limits, mode and
 * messages (seeded sizes and priorities), held through two descriptors
 * (one O_NONBLOCK), with an mq_notify signal registration; and a queue
 * removed (mq_unlink) while open. After the restart: the named queue is
 * the same queue, its messages all there in priority order, limits and
 * mode as they were, the non-blocking descriptor still non-blocking, and
 * the registration there (a message into the emptied queue brings the
 * signal); the removed queue is back removed, with its limits, empty and
 * working.
 * usage: mqueue SEED [ipcns]
 *   ipcns: in an IPC namespace of its own, which the restart makes anew:
 *   the named queue comes back with its limits and registration, empty. */
#include "fixture.h"
#include <fcntl.h>
#include <mqueue.h>
#include <stdint.h>
#include <sys/stat.h>

#define MESSAGES 6
static uint64_t rng;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static volatile sig_atomic_t notified;
static void on_usr1(int sig) { (void)sig; notified++; }

static char named[64], gone[64];
static long maxmsg, msgsize;
static mode_t mode;
static size_t sizes[MESSAGES];
static unsigned priorities[MESSAGES];

static char byte_of(int m, size_t k) { return (char)('a' + (m * 7 + k) % 26); }

static void check_attr(mqd_t q, long flags, const char *what) {
    struct mq_attr a;
    if (mq_getattr(q, &a)) { fail("%s: mq_getattr: %m", what); return; }
    if (a.mq_maxmsg != maxmsg || a.mq_msgsize != msgsize || a.mq_flags != flags)
        fail("%s: %ld messages of %ld bytes, flags %lx; were %ld, %ld, %lx", what, a.mq_maxmsg, a.mq_msgsize, a.mq_flags, maxmsg, msgsize, flags);
    struct stat st;
    if (fstat(q, &st) || (st.st_mode & 0777) != mode) fail("%s: mode %o, was %o", what, st.st_mode & 0777, mode);
}

int main(int argc, char **argv) {
    rng = argc > 1 ? strtoull(argv[1], NULL, 10) | 1 : 1;
    int own_ns = argc > 2 && strcmp(argv[2], "ipcns") == 0;
    if (own_ns && unshare_as_self(0x08000000 /* CLONE_NEWIPC */)) return 1;
    snprintf(named, sizeof named, "/swiftcr-mq-%d-%llu", getpid(), (unsigned long long)(next() % 100000));
    snprintf(gone, sizeof gone, "/swiftcr-mq-gone-%d", getpid());
    maxmsg = 1 + (long)(next() % 10);
    msgsize = 16 + (long)(next() % 4000);
    mode = 0600 | ((mode_t)(next() % 0100) & 0060);
    int count = (int)(maxmsg < MESSAGES ? maxmsg : MESSAGES);
    struct mq_attr attr = { 0, maxmsg, msgsize, 0, { 0 } };
    umask(0);
    mq_unlink(named);
    mqd_t q = mq_open(named, O_CREAT | O_EXCL | O_RDWR, mode, &attr);
    mqd_t reader = mq_open(named, O_RDONLY | O_NONBLOCK);
    mq_unlink(gone);
    mqd_t removed = mq_open(gone, O_CREAT | O_EXCL | O_RDWR, mode, &attr);
    if (q < 0 || reader < 0 || removed < 0) { fail("mq_open: %m"); return finish(); }
    if (mq_unlink(gone)) { fail("mq_unlink: %m"); return finish(); }
    char buf[4096];
    for (int m = 0; m < count; m++) {
        sizes[m] = next() % (size_t)msgsize + 1;
        priorities[m] = (unsigned)(next() % 4);
        for (size_t k = 0; k < sizes[m]; k++) buf[k] = byte_of(m, k);
        if (mq_send(q, buf, sizes[m], priorities[m])) { fail("mq_send: %m"); return finish(); }
    }
    if (mq_send(removed, "x", 1, 0)) { fail("mq_send: %m"); return finish(); }
    signal(SIGUSR1, on_usr1);
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
    if (mq_notify(q, &ev)) { fail("mq_notify: %m"); return finish(); }
    ready();
    wait_for_term();

    check_attr(q, 0, "the named queue");
    check_attr(reader, O_NONBLOCK, "its non-blocking descriptor");
    check_attr(removed, 0, "the removed queue");
    char p[64], link[128] = "";
    snprintf(p, sizeof p, "/proc/self/fd/%d", removed);
    if (readlink(p, link, sizeof link - 1) < 0 || !strstr(link, "(deleted)")) fail("the removed queue shows as '%s'", link);
    struct mq_attr now;
    if (mq_getattr(removed, &now) == 0 && now.mq_curmsgs != 0) fail("the removed queue holds %ld messages", now.mq_curmsgs);
    if (mq_send(removed, "y", 1, 0) || mq_receive(removed, buf, sizeof buf, NULL) != 1 || buf[0] != 'y') fail("the removed queue does not work: %m");

    /* The named queue: every message, highest priority first, in sending order within one. */
    int expected = own_ns ? 0 : count, got = 0;
    for (unsigned prio = 4; prio-- > 0;) {
        for (int m = 0; m < count; m++) {
            if (priorities[m] != prio || own_ns) continue;
            unsigned at;
            ssize_t n = mq_receive(reader, buf, sizeof buf, &at);
            if (n < 0) { fail("message %d: %m", m); continue; }
            got++;
            if ((size_t)n != sizes[m] || at != prio) { fail("message %d: %zd bytes, priority %u; was %zu, %u", m, n, at, sizes[m], prio); continue; }
            for (size_t k = 0; k < sizes[m]; k++) if (buf[k] != byte_of(m, k)) { fail("message %d: byte %zu differs", m, k); break; }
        }
    }
    if (mq_receive(reader, buf, sizeof buf, NULL) >= 0 || errno != EAGAIN) fail("more messages than were sent (%d expected)", expected);
    if (got != expected) fail("%d messages, %d expected", got, expected);
    /* The registration: a message into the empty queue signals us once. */
    if (mq_send(q, "n", 1, 0)) fail("mq_send after: %m");
    for (int i = 0; i < 200 && !notified; i++) usleep(5000);
    if (notified != 1) fail("the mq_notify registration is gone (%d signals)", (int)notified);
    mq_unlink(named);
    return finish();
}
