/* Processes in a time namespace (unshare --time): their CLOCK_MONOTONIC and
 * CLOCK_BOOTTIME run days ahead of the machine's (seeded offsets). After
 * the restart those clocks must go on from where they were, not jump back
 * by the offsets, and children born afterwards must be born in the namespace.
 * usage: timens SEED inside|parent
 *   inside: the checkpointed tree (a process and its child) lives in the
 *           namespace; the first process only waits for it.
 *   parent: the checkpointed process stays outside and its children are
 *           born inside (zdtm's ns flavor: its init and the test).
 * As a user, a user namespace mapping the uid and gid to themselves comes first. */
#include "fixture.h"
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

static int64_t now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec;
}

static long mono_offset, boot_offset;

/* The offsets /proc/self/timens_offsets shows (those of where children are born). */
static int offsets_are(long mono, long boot) {
    char text[256] = "";
    int fd = open("/proc/self/timens_offsets", O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return 0;
    text[n] = 0;
    long m = -1, b = -1;
    char *at = strstr(text, "monotonic");
    if (at) sscanf(at, "monotonic %ld", &m);
    at = strstr(text, "boottime");
    if (at) sscanf(at, "boottime %ld", &b);
    return m == mono && b == boot;
}

/* Records its clocks, waits for SIGTERM, checks they went on from there. */
static int clocks_go_on(const char *who) {
    int64_t mono = now(CLOCK_MONOTONIC), boot = now(CLOCK_BOOTTIME);
    wait_for_term();
    int64_t dm = now(CLOCK_MONOTONIC) - mono, db = now(CLOCK_BOOTTIME) - boot;
    if (dm < 0 || dm > 600 || db < 0 || db > 600) {
        fail("%s: monotonic moved %lld s, boottime %lld s across the restart", who, (long long)dm, (long long)db);
        return 1;
    }
    return 0;
}

/* A child born now: its monotonic clock, against ours (outside), shows the offset. */
static void child_is_born_inside(int64_t outside_mono) {
    int p[2];
    if (pipe(p)) return;
    pid_t c = fork();
    if (c == 0) {
        int64_t mono = now(CLOCK_MONOTONIC);
        if (write(p[1], &mono, sizeof mono) != sizeof mono) _exit(1);
        _exit(0);
    }
    int64_t inside = 0;
    if (read(p[0], &inside, sizeof inside) != sizeof inside) fail("child born after the restart did not answer");
    waitpid(c, NULL, 0);
    int64_t ahead = inside - outside_mono;
    if (ahead < mono_offset - 5 || ahead > mono_offset + 5) fail("a child born after the restart is %lld s ahead, not %ld (the namespace's offset)", (long long)ahead, mono_offset);
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    int inside = argc > 2 && strcmp(argv[2], "inside") == 0;
    mono_offset = 86400L * (1 + seed % 900) + seed % 3600;
    boot_offset = mono_offset + 3600L * (seed % 17);
    if (unshare_as_self(CLONE_NEWTIME)) return 1;
    char line[64];
    snprintf(line, sizeof line, "%d %ld 0", CLOCK_MONOTONIC, mono_offset);
    write_proc_file("/proc/self/timens_offsets", line);
    snprintf(line, sizeof line, "%d %ld 0", CLOCK_BOOTTIME, boot_offset);
    write_proc_file("/proc/self/timens_offsets", line);
    handle_term();
    int ready_pipe[2];
    if (pipe(ready_pipe)) return 1;
    fflush(stdout);

    if (inside) {
        pid_t root = fork();  /* born in the namespace */
        if (root == 0) {
            close(ready_pipe[0]);
            pid_t child = fork();
            if (child == 0) _exit(clocks_go_on("child"));
            if (write(ready_pipe[1], "R", 1) != 1) _exit(1);
            int failed = clocks_go_on("root");
            if (!offsets_are(mono_offset, boot_offset)) fail("root: its children's offsets are no longer %ld/%ld", mono_offset, boot_offset);
            kill(child, SIGTERM);
            int status;
            waitpid(child, &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status)) fail("child: status 0x%x", status);
            exit(finish() | failed);
        }
        char c;
        if (read(ready_pipe[0], &c, 1) != 1) { printf("FAIL: the tree did not get ready\n"); return 1; }
        printf("READY %d\n", root);
        fflush(stdout);
        int status;
        if (waitpid(root, &status, 0) < 0) return 1;
        if (WIFSIGNALED(status)) { signal(WTERMSIG(status), SIG_DFL); raise(WTERMSIG(status)); }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }

    /* parent: this process stays outside; its child lives inside. */
    pid_t child = fork();
    if (child == 0) _exit(clocks_go_on("child inside"));
    ready();
    int failed = clocks_go_on("parent outside");
    if (!offsets_are(mono_offset, boot_offset)) fail("parent: its children's offsets are no longer %ld/%ld", mono_offset, boot_offset);
    child_is_born_inside(now(CLOCK_MONOTONIC));
    kill(child, SIGTERM);
    int status;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) fail("child inside: status 0x%x", status);
    return finish() | failed;
}
