/* Processes and a thread in cgroups of their own (cr_restart --manage-cgroups).
 * usage: cgroups SEED V2DIR V1DIR|- [DEVDIR]
 *   V2DIR: a cgroup v2 directory the fixture may make cgroups in; V1DIR: the
 *   same in a cgroup v1 hierarchy (- for none). The fixture starts in both.
 * Seeded: 1-3 children, each moved into its own nested cgroups (1-3 levels)
 * of both hierarchies; the parent into another; one of the parent's threads,
 * on cgroup v1, into a cgroup of its own (v1 places threads one by one).
 * The first child also lives in a cgroup namespace of its own, rooted at its
 * cgroups, with a cgroup below (it reads "/inner").
 * Each child sets limits on its cgroups (v2 descendants and depth, v1
 * pids.max), which must be there again when the restart makes them anew.
 * Each task remembers its whole /proc/self/task/TID/cgroup and, after the
 * restart (SIGTERM), must read the same: every hierarchy, every path (a
 * namespace's root, too: its paths are read from there).
 * Below the parent's cgroups it makes 1-3 empty ones (some nested) with
 * seeded modes (as root also owners, of the directory and cgroup.procs):
 * after the restart they must be there with them. With DEVDIR (a v1
 * devices cgroup the fixture starts in; root only), an empty cgroup below
 * it denies every device but two rules, which must be its list again. */
#include "fixture.h"
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static unsigned seed;

/* The cgroups of this process's task named COMM (NULL: the process's, which
 * are its main thread's), through /proc/self: its task IDs are those of the
 * /proc mount's PID namespace, which a restart may have left behind. */
static int read_cgroups(const char *comm, char *out, size_t size) {
    char path[300] = "/proc/self/cgroup";
    if (comm) {
        DIR *tasks = opendir("/proc/self/task");
        struct dirent *e;
        path[0] = 0;
        while (tasks && (e = readdir(tasks))) {
            char name[300], text[32] = "";
            snprintf(name, sizeof name, "/proc/self/task/%s/comm", e->d_name);
            FILE *f = fopen(name, "r");
            if (!f) continue;
            if (fgets(text, sizeof text, f) && strncmp(text, comm, strlen(comm)) == 0 && text[strlen(comm)] == '\n')
                snprintf(path, sizeof path, "/proc/self/task/%s/cgroup", e->d_name);
            fclose(f);
        }
        if (tasks) closedir(tasks);
        if (!path[0]) return -1;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, out, size - 1);
    close(fd);
    if (n < 0) return -1;
    out[n] = 0;
    return 0;
}

/* Makes DIR/NAME (and its parents) and writes ID into its FILE. */
static int enter(const char *dir, const char *name, const char *file, pid_t id) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (char *p = path + strlen(dir) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(path, 0755);
        *p = '/';
    }
    if (mkdir(path, 0755) && errno != EEXIST) { fail("mkdir %s: %m", path); return -1; }
    char target[600];
    snprintf(target, sizeof target, "%s/%s", path, file);
    int fd = open(target, O_WRONLY);
    char text[16];
    int len = snprintf(text, sizeof text, "%d", id);
    if (fd < 0 || write(fd, text, len) != len) { fail("%s: %m", target); if (fd >= 0) close(fd); return -1; }
    close(fd);
    return 0;
}

/* A seeded nested name: PREFIX/a3/b1... (1-3 levels). */
static void nested(char *out, size_t size, const char *prefix, unsigned salt) {
    unsigned r = seed * 2654435761u + salt * 40503u;
    int levels = 1 + r % 3;
    int n = snprintf(out, size, "%s", prefix);
    for (int k = 1; k < levels; k++) n += snprintf(out + n, size - n, "/%c%u", 'a' + k, (r >> (4 * k)) % 7);
}

/* Writes or checks DIR/NAME/FILE (a cgroup's setting). */
static int setting(const char *dir, const char *name, const char *file, long value, int check) {
    char path[700], text[32] = "";
    snprintf(path, sizeof path, "%s/%s/%s", dir, name, file);
    int fd = open(path, check ? O_RDONLY : O_WRONLY);
    if (fd < 0) { fail("%s: %m", path); return 1; }
    int n = check ? (int)read(fd, text, sizeof text - 1) : snprintf(text, sizeof text, "%ld", value);
    if (!check && write(fd, text, n) != n) { fail("writing %s: %m", path); close(fd); return 1; }
    close(fd);
    if (check && strtol(text, NULL, 10) != value) { fail("%s is %.*s, not %ld", path, n > 0 ? n - 1 : 0, text, value); return 1; }
    return 0;
}

/* A child's cgroup settings: the limit on descendants of its top cgroup
 * (above it when nested), the depth limit and (v1) pids.max of its own. */
static int child_settings(const char *v2dir, const char *v1dir, const char *name, int k, int check) {
    char top[32];
    snprintf(top, sizeof top, "child%d", k);
    int bad = setting(v2dir, top, "cgroup.max.descendants", 20 + (seed + k) % 30, check);
    bad |= setting(v2dir, name, "cgroup.max.depth", 3 + (seed + k) % 5, check);
    if (v1dir) bad |= setting(v1dir, name, "pids.max", 50 + (seed * 7 + k) % 200, check);
    return bad;
}

static int same_after_restart(const char *who) {
    char before[4096], after[4096];
    if (read_cgroups(NULL, before, sizeof before)) { fail("%s: cannot read its cgroups", who); return 1; }
    wait_for_term();
    if (read_cgroups(NULL, after, sizeof after)) { fail("%s: cannot read its cgroups after the restart", who); return 1; }
    if (strcmp(before, after)) { fail("%s: cgroups were\n%snow\n%s", who, before, after); return 1; }
    return 0;
}

/* The empty cgroups below DIR/NAME: made (check 0) or checked (check 1). */
static int empty_cgroups(const char *dir, const char *name, int check) {
    static const mode_t modes[] = {0700, 0750, 0711, 0755};
    int count = 1 + (seed / 3) % 3, bad = 0;
    for (int k = 0; k < count; k++) {
        char path[700];
        int nested_one = (seed + (unsigned)k) % 2;
        snprintf(path, sizeof path, "%s/%s/empty%d%s", dir, name, k, nested_one ? "/deeper" : "");
        mode_t mode = modes[(seed + (unsigned)k * 5) % 4];
        uid_t owner = getuid() == 0 ? 2000 + (seed + (unsigned)k) % 50 : getuid();
        gid_t group = getuid() == 0 ? owner : getgid();
        char procs[720];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", path);
        if (!check) {
            if (nested_one) {
                char top[700];
                snprintf(top, sizeof top, "%s/%s/empty%d", dir, name, k);
                if (mkdir(top, 0755)) { fail("mkdir %s: %m", top); return 1; }
            }
            if (mkdir(path, 0755) || chmod(path, mode)) { fail("mkdir %s: %m", path); return 1; }
            if (getuid() == 0 && (chown(path, owner, owner) || chown(procs, owner, owner))) { fail("chown %s: %m", path); return 1; }
            continue;
        }
        struct stat st, pst;
        if (stat(path, &st) || !S_ISDIR(st.st_mode)) { fail("empty cgroup %s is gone", path); bad = 1; continue; }
        if ((st.st_mode & 07777) != mode) { fail("%s: mode %o, not %o", path, st.st_mode & 07777, mode); bad = 1; }
        if (st.st_uid != owner || st.st_gid != group) { fail("%s: owner %d:%d, not %d:%d", path, st.st_uid, st.st_gid, owner, group); bad = 1; }
        if (stat(procs, &pst) || pst.st_uid != owner) { fail("%s: not owned by %d", procs, owner); bad = 1; }
    }
    return bad;
}

/* DEVDIR/devrules: every device denied, then two allowed; checked as devices.list. */
static const char *dev_rules[] = {"c 1:3 rwm", "b 7:* r"};
static int device_rules(const char *devdir, int check) {
    char path[600];
    snprintf(path, sizeof path, "%s/devrules", devdir);
    if (!check) {
        if (mkdir(path, 0755)) { fail("mkdir %s: %m", path); return 1; }
        const char *writes[][2] = {{"devices.deny", "a"}, {"devices.allow", dev_rules[0]}, {"devices.allow", dev_rules[1]}};
        for (int k = 0; k < 3; k++) {
            char file[700];
            snprintf(file, sizeof file, "%s/%s", path, writes[k][0]);
            int fd = open(file, O_WRONLY);
            if (fd < 0 || write(fd, writes[k][1], strlen(writes[k][1])) < 0) { fail("%s: %m", file); if (fd >= 0) close(fd); return 1; }
            close(fd);
        }
        return 0;
    }
    char file[700], text[256] = "", want[256];
    snprintf(file, sizeof file, "%s/devices.list", path);
    snprintf(want, sizeof want, "%s\n%s\n", dev_rules[0], dev_rules[1]);
    int fd = open(file, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
    if (fd >= 0) close(fd);
    if (n < 0) { fail("%s: %m", file); return 1; }
    text[n] = 0;
    if (strcmp(text, want)) { fail("%s holds\n%s", file, text); return 1; }
    return 0;
}

static const char *v1dir;
static int thread_pipe[2];

static void *thread_main(void *arg) {
    (void)arg;
    leave_term_to_main();
    pid_t tid = (pid_t)syscall(SYS_gettid);
    char name[128];
    nested(name, sizeof name, "thread", 99);
    if (enter(v1dir, name, "tasks", tid)) tid = 0;
    prctl(PR_SET_NAME, "cgthread");
    if (write(thread_pipe[1], &tid, sizeof tid) != sizeof tid) return NULL;
    for (;;) pause();  /* main checks it through /proc after the restart */
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) { printf("usage: cgroups SEED V2DIR V1DIR|- [DEVDIR]\n"); return 2; }
    const char *devdir = argc > 4 && strcmp(argv[4], "-") ? argv[4] : NULL;
    seed = (unsigned)strtoul(argv[1], NULL, 10);
    const char *v2dir = argv[2];
    v1dir = strcmp(argv[3], "-") ? argv[3] : NULL;
    handle_term();
    int children = 1 + seed % 3;
    pid_t kids[3];
    int ready_pipe[2];
    if (pipe(ready_pipe)) return 1;
    for (int k = 0; k < children; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            close(ready_pipe[0]);
            char name[128], who[32];
            snprintf(who, sizeof who, "child %d", k);
            char prefix[16];
            snprintf(prefix, sizeof prefix, "child%d", k);
            nested(name, sizeof name, prefix, (unsigned)k);
            if (enter(v2dir, name, "cgroup.procs", 0)) _exit(1);
            if (v1dir && enter(v1dir, name, "cgroup.procs", 0)) _exit(1);
            if (child_settings(v2dir, v1dir, name, k, 0)) _exit(1);
            if (k == 0) {
                /* A cgroup namespace rooted at its cgroups, then a cgroup
                 * below: it reads "/inner", never its full path. */
                if (unshare_as_self(CLONE_NEWCGROUP)) _exit(1);
                char inner[160];
                snprintf(inner, sizeof inner, "%s/inner", name);
                if (enter(v2dir, inner, "cgroup.procs", 0)) _exit(1);
                if (v1dir && enter(v1dir, inner, "cgroup.procs", 0)) _exit(1);
                char seen[4096];
                if (read_cgroups(NULL, seen, sizeof seen) || !strstr(seen, "0::/inner\n")) { fail("child 0: its namespace shows\n%s", seen); _exit(1); }
            }
            if (write(ready_pipe[1], "R", 1) != 1) _exit(1);
            int failed = same_after_restart(who);
            _exit(failed | child_settings(v2dir, v1dir, name, k, 1));
        }
        char c;
        if (read(ready_pipe[0], &c, 1) != 1) { printf("FAIL: child %d did not get ready\n", k); return 1; }
    }
    char name[128];
    nested(name, sizeof name, "parent", 7);
    if (enter(v2dir, name, "cgroup.procs", 0)) return 1;
    pthread_t thread;
    pid_t thread_tid = 0;
    if (v1dir) {
        if (enter(v1dir, name, "cgroup.procs", 0)) return 1;
        if (pipe(thread_pipe) || pthread_create(&thread, NULL, thread_main, NULL)) return 1;
        if (read(thread_pipe[0], &thread_tid, sizeof thread_tid) != sizeof thread_tid || !thread_tid) return 1;
    }
    if (empty_cgroups(v2dir, name, 0) || (v1dir && empty_cgroups(v1dir, name, 0))) return 1;
    if (devdir && device_rules(devdir, 0)) return 1;
    char thread_before[4096] = "";
    if (thread_tid && read_cgroups("cgthread", thread_before, sizeof thread_before)) { fail("thread: cannot read its cgroups"); return 1; }
    ready();
    int failed = same_after_restart("parent");
    failed |= empty_cgroups(v2dir, name, 1) | (v1dir ? empty_cgroups(v1dir, name, 1) : 0);
    if (devdir) failed |= device_rules(devdir, 1);
    if (thread_tid) {
        char after[4096];
        if (read_cgroups("cgthread", after, sizeof after)) {
            fail("thread: no task named cgthread after the restart (its name is lost)");
            failed = 1;
        } else if (strcmp(thread_before, after)) {
            fail("thread: cgroups were\n%snow\n%s", thread_before, after);
            failed = 1;
        }
    }
    for (int k = 0; k < children; k++) {
        kill(kids[k], SIGTERM);
        int status;
        waitpid(kids[k], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) { fail("child %d: status 0x%x", k, status); failed = 1; }
    }
    return finish() | failed;
}
