/* Mount propagation inside a mount namespace of the process's own: a
 * shared tmpfs "a" with a peer "b" (a bind), a slave "c" (a bind), and
 * (seeded) a slave "d" of its subdirectory; a private tmpfs "e", seeded
 * unbindable; a tmpfs mounted on a/m (over a file of a's), which propagated
 * to b/m and c/m when it was made; and (seeded) one mounted over a/m on top
 * of that, propagated the same way. Before the checkpoint and after the restart, the groups
 * mountinfo shows (which mounts are peers, which receive from which group,
 * by mount point and filesystem) must be the same. After the restart they
 * must also work:
 *   - unmounting the mount over a/m unmounts its copies on b/m and c/m,
 *     and so does unmounting a/m then, which shows the file it covered;
 *   - a tmpfs mounted on a/x shows on b/x and c/x, one on a/s/x on d/x;
 *   - a tmpfs mounted on c/y does not show on a/y or b/y (a slave sends nothing);
 *   - an unbindable "e" cannot be bound.
 * A child in a mount namespace of its own (a copy of ours, made a slave)
 * mounts a tmpfs on a/z: after the restart it is still there for the child
 * and not in the parent's namespace (the restart makes the child's from
 * a copy of the parent's shared mounts, which must not carry it back); its
 * a/m and a/m/k are still there under its copy of the mount over a/m; it
 * unmounted /proc (as root: a user's copy is locked) and still has none,
 * its pipe still holds its byte, and a page it shares with its parent
 * (which cr_restart makes once and each stub maps through /proc) is shared.
 * A second child's namespace is a plain copy, so its "a" is a peer of the
 * parent's (one peer group across two namespaces): the tmpfs it mounted on
 * a/w before the checkpoint shows in the parent's; after the restart, the
 * parent unmounting a/w must unmount the child's too, and a tmpfs the
 * parent mounts on a/p must show in the child's namespace.
 * A tmpfs "t" covered by a bind of its own subdirectory keeps its files, and
 * a bind of it moved onto that bind (MS_MOVE: listed before the mount it
 * sits on) comes back on it.
 * As a user, a user namespace mapping the uid and gid comes first.
 * usage: propagation SEED WORKDIR */
#define _GNU_SOURCE
#include "fixture.h"
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char root[600];
/* Shared with the children (MAP_SHARED|MAP_ANONYMOUS): a restart maps it in each from one object of cr_restart's. */
static volatile char *shared_page;
static int with_d, with_over, unbindable_e;

static void path(char *out, size_t n, const char *rel) { snprintf(out, n, "%s/%s", root, rel); }

static dev_t dev_of(const char *rel) {
    char p[700];
    struct stat st;
    path(p, sizeof p, rel);
    return stat(p, &st) == 0 ? st.st_dev : 0;
}

static int do_mount(const char *source, const char *rel, const char *type, unsigned long flags) {
    char p[700], s[700];
    path(p, sizeof p, rel);
    const char *src = source;
    if (source && source[0] != '/' && type == NULL) { path(s, sizeof s, source); src = s; }
    if (mount(src, p, type, flags, type ? "size=1m" : NULL)) { fail("mount %s on %s: %m", source ? source : "(none)", rel); return -1; }
    return 0;
}

static void make_dir(const char *rel) {
    char p[700];
    path(p, sizeof p, rel);
    if (mkdir(p, 0755) && errno != EEXIST) fail("mkdir %s: %m", rel);
}

/* Orders two describe() lines by their first word, the mount point. */
static int point_cmp(const char *a, const char *b) {
    size_t la = strcspn(a, " "), lb = strcspn(b, " ");
    int c = strncmp(a, b, la < lb ? la : lb);
    return c ? c : (int)la - (int)lb;
}

/* mountinfo of the mounts under root, one line each: the mount point
 * (relative), filesystem source, root, and its groups named by the first
 * line that has them, so two namespaces' numbers compare. */
static void describe(char *out, size_t n) {
    char line[2048];
    static char lines[64][1400];
    int count = 0;
    long groups[64];
    int named = 0;
    size_t used = 0;
    out[0] = 0;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) { fail("mountinfo: %m"); return; }
    size_t len = strlen(root);
    while (fgets(line, sizeof line, f)) {
        char mroot[512], point[512], optional[512] = "", source[256] = "";
        int id, parent;
        if (sscanf(line, "%d %d %*s %511s %511s", &id, &parent, mroot, point) != 4) continue;
        if (strncmp(point, root, len) != 0 || (point[len] != '/' && point[len] != 0)) continue;
        char *dash = strstr(line, " - ");
        char *fields = strchr(line, ' ');
        for (int k = 0; k < 5 && fields; k++) fields = strchr(fields + 1, ' ');
        if (fields && dash && dash > fields) {
            size_t l = (size_t)(dash - fields - 1);
            if (l >= sizeof optional) l = sizeof optional - 1;
            memcpy(optional, fields + 1, l);
            optional[l] = 0;
        }
        if (dash) sscanf(dash + 3, "%*s %255s", source);
        char shown[256] = "";
        char *save = NULL;
        for (char *t = strtok_r(optional, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            long g;
            const char *kind = NULL;
            if (sscanf(t, "shared:%ld", &g) == 1) kind = "peer";
            else if (sscanf(t, "master:%ld", &g) == 1) kind = "from";
            else if (strcmp(t, "unbindable") == 0) { strncat(shown, " unbindable", sizeof shown - strlen(shown) - 1); continue; }
            else continue;
            int k = 0;
            while (k < named && groups[k] != g) k++;
            if (k == named && named < 64) groups[named++] = g;
            char part[32];
            snprintf(part, sizeof part, " %s:G%d", kind, k);
            strncat(shown, part, sizeof shown - strlen(shown) - 1);
        }
        if (count == 64) break;
        snprintf(lines[count++], sizeof lines[0], "%s %s %s%s\n", point[len] ? point + len + 1 : ".", source, mroot, shown);
    }
    fclose(f);
    /* By mount point, mounts at one point in their order (a mount moved onto
     * one made later is listed before it, and comes back after it). */
    for (int i = 1; i < count; i++) {
        for (int j = i; j > 0 && point_cmp(lines[j - 1], lines[j]) > 0; j--) {
            char t[sizeof lines[0]];
            memcpy(t, lines[j], sizeof t); memcpy(lines[j], lines[j - 1], sizeof t); memcpy(lines[j - 1], t, sizeof t);
        }
    }
    for (int i = 0; i < count; i++) {
        int w = snprintf(out + used, n - used, "%s", lines[i]);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
}

static void set_up(void) {
    make_dir("a"); make_dir("b"); make_dir("c"); make_dir("d"); make_dir("e");
    if (do_mount("prop-a", "a", "tmpfs", 0)) return;
    const char *inside[] = { "a/m", "a/x", "a/y", "a/z", "a/s", "a/s/x" };
    for (unsigned k = 0; k < sizeof inside / sizeof *inside; k++) make_dir(inside[k]);
    if (do_mount(NULL, "a", NULL, MS_SHARED)) return;
    if (do_mount("a", "b", NULL, MS_BIND)) return;
    if (do_mount("a", "c", NULL, MS_BIND) || do_mount(NULL, "c", NULL, MS_SLAVE)) return;
    if (with_d && (do_mount("a/s", "d", NULL, MS_BIND) || do_mount(NULL, "d", NULL, MS_SLAVE))) return;
    if (do_mount("prop-e", "e", "tmpfs", 0)) return;
    if (unbindable_e && do_mount(NULL, "e", NULL, MS_UNBINDABLE)) return;
    /* A file the next mount covers: it must be saved and found again under it. */
    char p[700];
    path(p, sizeof p, "a/m/under");
    FILE *f = fopen(p, "w");
    if (!f || fputs("under a/m\n", f) < 0 || fclose(f)) { fail("%s: %m", p); return; }
    /* Made on a shared mount: its copies appear on b/m (a peer) and c/m (a slave). */
    if (do_mount("prop-m", "a/m", "tmpfs", 0)) return;
    /* Under what covers a/m next, a mount of its own: prop-m's files cannot be
     * read then, but the directory it sits on must be made again. */
    make_dir("a/m/k");
    if (do_mount("prop-k", "a/m/k", "tmpfs", 0)) return;
    if (with_over && do_mount("prop-over", "a/m", "tmpfs", 0)) return;
    /* A tmpfs "t" with x/y/deep, covered by a bind of its own x; a bind "u"
     * of its root, made before that, then moved onto t/y: it sits on the
     * bind of x and is listed before it. */
    make_dir("t"); make_dir("u");
    if (do_mount("prop-t", "t", "tmpfs", 0)) return;
    make_dir("t/x"); make_dir("t/x/y");
    path(p, sizeof p, "t/x/y/deep");
    f = fopen(p, "w");
    if (!f || fputs("deep\n", f) < 0 || fclose(f)) { fail("%s: %m", p); return; }
    if (do_mount("t", "u", NULL, MS_BIND) || do_mount("t/x", "t", NULL, MS_BIND)) return;
    char from[700], to[700];
    path(from, sizeof from, "u");
    path(to, sizeof to, "t/y");
    if (mount(from, to, NULL, MS_MOVE, NULL)) fail("move u onto t/y: %m");
}

/* `rel` holds "deep". */
static int deep(const char *rel) {
    char p[700], line[16] = "";
    path(p, sizeof p, rel);
    FILE *f = fopen(p, "r");
    int ok = f && fgets(line, sizeof line, f) && strcmp(line, "deep\n") == 0;
    if (f) fclose(f);
    return ok;
}

static void check_after(void) {
    /* The moved bind shows t's root on t/y; under it, x's y; under the bind of x, t's own files. */
    char q[700];
    if (!deep("t/y/x/y/deep")) fail("t/y does not show prop-t's root (the mount moved onto the bind of its x)");
    path(q, sizeof q, "t/y");
    if (umount(q)) fail("umount t/y: %m");
    if (!deep("t/y/deep")) fail("under t/y, the bind of x on t does not show x");
    path(q, sizeof q, "t");
    if (umount(q)) fail("umount t: %m");
    if (!deep("t/x/y/deep")) fail("prop-t, covered by a bind of its own x, lost its files");
    if (with_over) {
        char p[700];
        path(p, sizeof p, "a/m");
        if (umount(p)) fail("umount a/m: %m");
        /* Its copies went with it: each shows prop-m again, one filesystem. */
        if (dev_of("b/m") != dev_of("a/m") || dev_of("c/m") != dev_of("a/m")) fail("unmounting over a/m did not reach b/m and c/m");
    }
    /* Unmounting a/m unmounts its copies too, and shows the file it covered on all three. */
    char p[700];
    path(p, sizeof p, "a/m/k");
    if (umount(p)) fail("umount a/m/k: %m");
    path(p, sizeof p, "a/m");
    if (umount(p)) fail("umount a/m: %m");
    const char *under[] = { "a/m/under", "b/m/under", "c/m/under" };
    for (int k = 0; k < 3; k++) {
        char line[64] = "";
        path(p, sizeof p, under[k]);
        FILE *f = fopen(p, "r");
        if (!f || !fgets(line, sizeof line, f) || strcmp(line, "under a/m\n") != 0) fail("%s: '%s' (%s)", under[k], line, f ? "read" : strerror(errno));
        if (f) fclose(f);
    }
    if (do_mount("prop-x", "a/x", "tmpfs", 0) == 0) {
        if (dev_of("b/x") != dev_of("a/x")) fail("a mount on a/x does not show on its peer b/x");
        if (dev_of("c/x") != dev_of("a/x")) fail("a mount on a/x does not show on its slave c/x");
        if (dev_of("a/x") == dev_of("a")) fail("a/x is not a mount");
    }
    if (with_d && do_mount("prop-sx", "a/s/x", "tmpfs", 0) == 0 && dev_of("d/x") != dev_of("a/s/x"))
        fail("a mount on a/s/x does not show on d/x (a slave of a/s)");
    if (do_mount("prop-y", "c/y", "tmpfs", 0) == 0) {
        if (dev_of("a/y") != dev_of("a") || dev_of("b/y") != dev_of("a")) fail("a mount on the slave c/y reached its master");
    }
    if (unbindable_e) {
        char p[700], q[700];
        path(p, sizeof p, "e");
        path(q, sizeof q, "a/y");
        if (mount(p, q, NULL, MS_BIND, NULL) == 0) fail("e is bindable again");
    }
}

/* The child: its own namespace, a slave of ours, with a tmpfs on a/z. */
static int child(int ready_fd) {
    if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL)) { printf("FAIL: child namespace: %m\n"); return 1; }
    /* No /proc in its namespace (where it may unmount it: a user's copy of
     * /proc is locked to its parent), and a pipe the restart makes in
     * cr_restart and hands over. */
    int lines[2];
    if (pipe(lines) || write(lines[1], "p", 1) != 1) { printf("FAIL: child pipe: %m\n"); return 1; }
    int no_proc = umount2("/proc", MNT_DETACH) == 0;
    if (do_mount("prop-child", "a/z", "tmpfs", 0)) return 1;
    /* A file in it tells it from any other tmpfs after the restart (device numbers are reused). */
    char marker[700], line[32] = "";
    path(marker, sizeof marker, "a/z/marker");
    FILE *f = fopen(marker, "w");
    if (!f || fputs("the child's\n", f) < 0 || fclose(f)) { printf("FAIL: %s: %m\n", marker); return 1; }
    if (write(ready_fd, "r", 1) != 1) return 1;
    close(ready_fd);
    wait_for_term();
    f = fopen(marker, "r");
    if (dev_of("a/z") == dev_of("a") || !f || !fgets(line, sizeof line, f) || strcmp(line, "the child's\n") != 0) {
        printf("FAIL: the child's mount on a/z is gone\n");
        return 1;
    }
    fclose(f);
    char got = 0;
    if (read(lines[0], &got, 1) != 1 || got != 'p') { printf("FAIL: the child's pipe lost its byte\n"); return 1; }
    if (shared_page[0] != 'R') { printf("FAIL: the child's page shared with its parent is not shared any more ('%c')\n", shared_page[0]); return 1; }
    if (no_proc && access("/proc/self/status", F_OK) == 0) { printf("FAIL: the child's namespace has a /proc again\n"); return 1; }
    /* Its copies of the parent's mounts include those covered there (a/m, a/m/k under the mount over a/m). */
    if (with_over) {
        path(marker, sizeof marker, "a/m");
        if (umount(marker)) { printf("FAIL: child: umount a/m: %m\n"); return 1; }
    }
    if (dev_of("a/m") == dev_of("a") || dev_of("a/m/k") == dev_of("a/m") || dev_of("a/m/k") == 0) {
        printf("FAIL: the child's a/m and a/m/k are not the mounts they were (a covered mount's copy)\n");
        return 1;
    }
    return 0;
}

/* The peer child: a copy of our namespace, whose "a" is a peer of ours. */
static int peer_child(int ready_fd) {
    if (unshare(CLONE_NEWNS)) { printf("FAIL: peer child namespace: %m\n"); return 1; }
    if (do_mount("prop-w", "a/w", "tmpfs", 0)) return 1;
    if (write(ready_fd, "r", 1) != 1) return 1;
    close(ready_fd);
    wait_for_term();
    int bad = 0;
    if (dev_of("a/w") != dev_of("a")) { printf("FAIL: the parent's umount of a/w did not reach its peer in the child's namespace\n"); bad = 1; }
    if (dev_of("a/p") == dev_of("a")) { printf("FAIL: the parent's mount on a/p did not reach its peer in the child's namespace\n"); bad = 1; }
    return bad;
}

/* Forks `body` and waits for its "ready" byte; its pid, or -1. */
static pid_t start_child(int (*body)(int)) {
    int sync[2];
    if (pipe(sync)) return -1;
    pid_t c = fork();
    if (c == 0) { close(sync[0]); exit(body(sync[1])); }
    close(sync[1]);
    char one;
    int got = (int)read(sync[0], &one, 1);
    close(sync[0]);
    return got == 1 ? c : -1;
}

static void stop_child(pid_t c, const char *which) {
    kill(c, SIGTERM);
    int status = 0;
    if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the %s failed (status %#x)", which, status);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    uint64_t seed = strtoull(argv[1], NULL, 10);
    with_d = seed_mix(seed) % 2;
    with_over = seed_mix(seed + 1) % 3 != 0;
    unbindable_e = seed_mix(seed + 2) % 2;
    snprintf(root, sizeof root, "%s/prop", argv[2]);
    if (mkdir(root, 0755) && errno != EEXIST) { printf("FAIL: mkdir %s: %m\n", root); return 1; }
    if (unshare_as_self(CLONE_NEWNS)) return 1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) { printf("FAIL: private: %m\n"); return 1; }
    set_up();
    static char before[16384], after[16384];
    handle_term();
    make_dir("a/w");
    make_dir("a/p");
    shared_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared_page == MAP_FAILED) { fail("mmap: %m"); return finish(); }
    shared_page[0] = 'b';
    pid_t c = start_child(child), peer = start_child(peer_child);
    if (c < 0 || peer < 0) { fail("a child did not get ready"); return finish(); }
    if (dev_of("a/w") == dev_of("a")) { fail("the peer child's mount on a/w does not show here"); return finish(); }
    describe(before, sizeof before);
    ready();
    wait_for_term();
    describe(after, sizeof after);
    if (dev_of("a/z") != dev_of("a")) fail("the child's mount on a/z shows in the parent's namespace");
    shared_page[0] = 'R';
    stop_child(c, "child");
    char w[700];
    path(w, sizeof w, "a/w");
    if (umount(w)) fail("umount a/w: %m");
    do_mount("prop-p", "a/p", "tmpfs", 0);
    stop_child(peer, "peer child");
    if (strcmp(before, after) != 0) fail("the mounts' groups changed:\n--- before\n%s--- after\n%s", before, after);
    check_after();
    return finish();
}
