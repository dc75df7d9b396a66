/* A process with libcr and a stop (BLCR's stopped test, cr_chkpt_req.c:
 * the stop comes at the end of the checkpoint, after the callbacks):
 *  - checkpointed with --stop (cr_signal SIGSTOP) while it runs: its
 *    callback finishes, then it is stopped;
 *  - checkpointed while stopped: it is woken for its callback and stopped
 *    again after it;
 *  - restarted from that image: its restart callback runs, then it is
 *    stopped, as it was at the checkpoint.
 * The child reports through a file (it outlives the restart): 'r' ready,
 * 'C' after cr_checkpoint() continued, 'R' after it restarted.
 * Usage: cr_stopped signal|thread DIR. Prints PASS. */
#include <libcr.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include "fixture.h"

static int events;

static int callback(void *arg) {
    (void)arg;
    int r = cr_checkpoint(CR_CHECKPOINT_READY);
    char c = r > 0 ? 'R' : r == 0 ? 'C' : 'E';
    if (write(events, &c, 1) != 1) return 1;
    return 0;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

/* Waits (at most 20 s) until the file holds `count` events; returns the last. */
static char event(const char *path, int count) {
    for (double end = now() + 20; now() < end; usleep(2000)) {
        char buf[64];
        int fd = open(path, O_RDONLY);
        int n = fd < 0 ? 0 : (int)read(fd, buf, sizeof buf);
        if (fd >= 0) close(fd);
        if (n >= count) return buf[count - 1];
    }
    return 0;
}

static char state(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    int n = fd < 0 ? 0 : (int)read(fd, buf, sizeof buf - 1);
    if (fd >= 0) close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *close_paren = strrchr(buf, ')');
    return close_paren && close_paren[1] ? close_paren[2] : '?';
}

static int stops_within(pid_t pid, double seconds) {
    for (double end = now() + seconds; now() < end; usleep(1000)) if (state(pid) == 'T') return 1;
    return 0;
}

static int checkpoint(pid_t pid, const char *image, int signal) {
    cr_checkpoint_args_t a;
    cr_initialize_checkpoint_args_t(&a);
    a.cr_scope = CR_SCOPE_PROC;
    a.cr_target = pid;
    a.cr_signal = signal;
    a.cr_fd = open(image, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_checkpoint_handle_t h;
    if (cr_request_checkpoint(&a, &h) != 0) { fail("cr_request_checkpoint: %s", strerror(errno)); return -1; }
    close(a.cr_fd);
    struct timeval limit = { 60, 0 };
    int r = cr_poll_checkpoint(&h, &limit);
    if (r != 1) fail("checkpoint of %d (signal %d): poll %d (%s)", pid, signal, r, cr_strerror(errno));
    return r == 1 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int context = strcmp(argv[1], "thread") == 0 ? CR_THREAD_CONTEXT : CR_SIGNAL_CONTEXT;
    char path[4096], first[4096], second[4096];
    snprintf(path, sizeof path, "%s/events", argv[2]);
    snprintf(first, sizeof first, "%s/stop.img", argv[2]);
    snprintf(second, sizeof second, "%s/stopped.img", argv[2]);
    unlink(path);
    pid_t child = fork();
    if (child == 0) {
        events = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (events < 0 || cr_init() < 0 || cr_register_callback(callback, NULL, context) < 0) _exit(2);
        if (write(events, "r", 1) != 1) _exit(2);
        for (;;) pause();
    }
    if (event(path, 1) != 'r') { fail("the child did not start"); kill(child, SIGKILL); return finish(); }

    /* --stop while running: the callback first, then the stop. */
    if (checkpoint(child, first, SIGSTOP) == 0) {
        if (event(path, 2) != 'C') fail("--stop: the callback did not finish after cr_checkpoint() (stopped first?)");
        if (!stops_within(child, 10)) fail("--stop: the process is not stopped after the checkpoint (state %c)", state(child));
    }
    kill(child, SIGCONT);

    /* Stopped at the checkpoint: woken for the callback, stopped again. */
    kill(child, SIGSTOP);
    if (!stops_within(child, 10)) fail("SIGSTOP did not stop the child");
    if (checkpoint(child, second, 0) == 0) {
        if (event(path, 3) != 'C') fail("stopped: the callback did not run");
        if (!stops_within(child, 10)) fail("stopped: not stopped again after the checkpoint (state %c)", state(child));
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);

    /* Restarted from the stopped image: the restart callback, then stopped. */
    int fd = open(second, O_RDONLY);
    cr_restart_args_t a;
    cr_initialize_restart_args_t(&a);
    a.cr_fd = fd;
    a.cr_flags = 0;
    cr_restart_handle_t h;
    if (cr_request_restart(&a, &h) != 0) { fail("cr_request_restart: %s", strerror(errno)); return finish(); }
    struct timeval limit = { 60, 0 };
    int pid = cr_poll_restart(&h, &limit);
    if (pid <= 0) { fail("cr_poll_restart gave %d (%s)", pid, cr_strerror(errno)); return finish(); }
    if (event(path, 4) != 'R') fail("restart: the restart callback did not run (the process stopped before it?)");
    if (!stops_within(pid, 10)) fail("restart: the process is not stopped as it was at the checkpoint (state %c)", state(pid));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return finish();
}
