/* Mount namespaces (unshare -m, containers): the process and its child each
 * in one of their own. The parent's namespace has a tmpfs the checkpointer's
 * does not ("outer", with a file the child keeps open); the child's, cloned
 * from it, unmounts "gone", keeps a bind of "outer" (one filesystem shared
 * by both namespaces), and adds a tmpfs of seeded files (sizes, modes,
 * times, a symlink, a hard link, a FIFO, nested directories) with a
 * read-only bind of one of its directories, a tmpfs mounted on it, and a
 * file mapped shared, and a bind of one of its directories that a tmpfs
 * mounted since covers. After the restart everything must be so again:
 * different namespaces, the same mounts, every file as it was, the bind
 * read-only, the shared tmpfs one filesystem (a write by one is read by
 * the other), the kept-open file still on the parent's mount, and the
 * parent's inotify watch on a file of the child's tmpfs (reached through
 * /proc/CHILD/fd) still reporting its close.
 * As a user, a user namespace mapping the uid and gid comes first.
 * usage: mountns SEED WORKDIR [big]
 *   big: the child's tmpfs also holds a 65 MiB file, more than a checkpoint keeps. */
#define _GNU_SOURCE
#include "fixture.h"
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#define FILES 12
static uint64_t rng;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static char work[512], outer[600], gone[600], top[600], view[600], inner[600];
static int big;
static size_t sizes[FILES];
static mode_t modes[FILES];
static time_t times[FILES];

static void path_of(char *out, size_t n, int i) { snprintf(out, n, "%s/d%d/sub/f%d", top, i % 3, i); }
static unsigned char byte_of(int i, size_t k) { return (unsigned char)(i * 31 + k * 7 + 1); }

/* The optional fields of the mount at `point` in mountinfo ("shared:3", ...), or "" when none. */
static int mountinfo_says(const char *point, const char *what) {
    char line[2048], mp[1024];
    int found = 0;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%*d %*d %*s %*s %1023s", mp) == 1 && strcmp(mp, point) == 0) found = strstr(line, what) != NULL;
    }
    if (f) fclose(f);
    return found;
}
static dev_t dev_of(const char *p) { struct stat st; return stat(p, &st) == 0 ? st.st_dev : (dev_t)-1; }

static void make_files(void) {
    char p[800];
    for (int d = 0; d < 3; d++) {
        snprintf(p, sizeof p, "%s/d%d", top, d); mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/d%d/sub", top, d); mkdir(p, 0700 + d);
    }
    for (int i = 0; i < FILES; i++) {
        sizes[i] = next() % 3 == 0 ? 0 : next() % 200000;
        modes[i] = 0400 | (next() % 0400);
        times[i] = 1000000000 + (time_t)(next() % 500000000);
        path_of(p, sizeof p, i);
        int fd = open(p, O_CREAT | O_WRONLY, 0600);
        for (size_t k = 0; k < sizes[i]; k++) { unsigned char b = byte_of(i, k); if (write(fd, &b, 1) != 1) fail("write"); }
        close(fd);
        chmod(p, modes[i]);
        struct timespec ts[2] = { { times[i], 0 }, { times[i], 123456789 } };
        utimensat(AT_FDCWD, p, ts, 0);
    }
    snprintf(p, sizeof p, "%s/link", top);
    if (symlink("d1/sub/f1", p)) fail("symlink");
    char first[800];
    path_of(first, sizeof first, 2);
    snprintf(p, sizeof p, "%s/hard", top);
    if (link(first, p)) fail("link");
    snprintf(p, sizeof p, "%s/fifo", top);
    if (mkfifo(p, 0640)) fail("mkfifo");
    snprintf(p, sizeof p, "%s/view", top); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/inner", top); mkdir(p, 0755);
}

/* Seeded extra mounts, each on a directory of an earlier one (nested in a
 * seeded order): a tmpfs or a bind of an earlier mount's directory, with
 * seeded options, and a marker file written through it before options that
 * forbid writing are set. */
#define EXTRA 5
static int extras;
static char extra_at[EXTRA][800];
static unsigned long extra_flags[EXTRA];
static int extra_bind_of[EXTRA];

static void make_extra_mounts(void) {
    extras = 1 + (int)(next() % EXTRA);
    for (int i = 0; i < extras; i++) {
        int on = (int)(next() % (i + 1)) - 1;  /* -1: the seeded tmpfs itself */
        snprintf(extra_at[i], sizeof extra_at[i], "%s/x%d", on < 0 ? top : extra_at[on], i);
        if (mkdir(extra_at[i], 0755)) { fail("mkdir %s: %m", extra_at[i]); return; }
        extra_bind_of[i] = i > 0 && next() % 3 == 0 ? (int)(next() % i) : -1;
        /* Not a bind of a mount it sits on (the mount would show itself). */
        if (extra_bind_of[i] >= 0 && strncmp(extra_at[i], extra_at[extra_bind_of[i]], strlen(extra_at[extra_bind_of[i]])) == 0) extra_bind_of[i] = -1;
        int r = extra_bind_of[i] >= 0 ? mount(extra_at[extra_bind_of[i]], extra_at[i], NULL, MS_BIND, NULL)
                                       : mount("extra", extra_at[i], "tmpfs", 0, "size=2m");
        if (r) { fail("mount %s: %m", extra_at[i]); return; }
        if (extra_bind_of[i] < 0) {
            char p[900];
            snprintf(p, sizeof p, "%s/marker", extra_at[i]);
            FILE *f = fopen(p, "w");
            if (!f) { fail("marker: %m"); return; }
            fprintf(f, "mount %d\n", i);
            fclose(f);
        }
        unsigned long options[] = { 0, MS_RDONLY, MS_NOSUID, MS_NOEXEC, MS_NODEV, MS_RDONLY | MS_NOEXEC };
        extra_flags[i] = options[next() % 6];
    }
    /* Options last, top-down order of making: a read-only mount took its mounts first. */
    for (int i = 0; i < extras; i++)
        if (extra_flags[i] && mount(NULL, extra_at[i], NULL, MS_REMOUNT | MS_BIND | extra_flags[i], NULL)) fail("options of %s: %m", extra_at[i]);
}

static void check_extra_mounts(void) {
    for (int i = 0; i < extras; i++) {
        struct statvfs v;
        if (statvfs(extra_at[i], &v)) { fail("%s: %m", extra_at[i]); continue; }
        unsigned long want = (extra_flags[i] & MS_RDONLY ? ST_RDONLY : 0) | (extra_flags[i] & MS_NOSUID ? ST_NOSUID : 0)
                           | (extra_flags[i] & MS_NOEXEC ? ST_NOEXEC : 0) | (extra_flags[i] & MS_NODEV ? ST_NODEV : 0);
        unsigned long mask = ST_RDONLY | ST_NOSUID | ST_NOEXEC | ST_NODEV;
        if ((v.f_flag & mask) != want) fail("%s: options %#lx, were %#lx", extra_at[i], v.f_flag & mask, want);
        int source = i;
        while (extra_bind_of[source] >= 0) source = extra_bind_of[source];
        char p[900], line[64] = "", want_line[64];
        snprintf(p, sizeof p, "%s/marker", extra_at[i]);
        snprintf(want_line, sizeof want_line, "mount %d\n", source);
        FILE *f = fopen(p, "r");
        if (!f || !fgets(line, sizeof line, f) || strcmp(line, want_line) != 0) fail("%s: marker '%s', want '%s'", extra_at[i], line, want_line);
        if (f) fclose(f);
        if (dev_of(extra_at[i]) != dev_of(extra_at[source])) fail("%s is not a bind of %s any more", extra_at[i], extra_at[source]);
    }
}

/* A bind of a directory of the seeded tmpfs that a tmpfs mounted on its
 * parent hides since (bubblewrap binds our /tmp/x under its own tmpfs /tmp):
 * made through a descriptor taken before the cover. The restart must bind
 * the hidden directory, not what the cover has at that path. */
static char hidden[800], bound[800];
static unsigned long long hidden_value;

static void make_covered_bind(void) {
    char p[900];
    snprintf(hidden, sizeof hidden, "%s/hid", top);
    snprintf(bound, sizeof bound, "%s/bound", top);
    snprintf(p, sizeof p, "%s/deep", hidden);
    if (mkdir(hidden, 0755) || mkdir(p, 0755) || mkdir(bound, 0755)) { fail("covered bind dirs: %m"); return; }
    snprintf(p, sizeof p, "%s/deep/marker", hidden);
    FILE *f = fopen(p, "w");
    if (!f) { fail("covered marker: %m"); return; }
    hidden_value = next() % 100000;
    fprintf(f, "hidden %llu\n", hidden_value);
    fclose(f);
    snprintf(p, sizeof p, "%s/deep", hidden);
    int fd = open(p, O_PATH | O_DIRECTORY);
    if (fd < 0 || mount("cover", hidden, "tmpfs", 0, "size=64k")) { fail("covering %s: %m", hidden); return; }
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    if (mount(p, bound, NULL, MS_BIND, NULL)) fail("bind of the covered directory: %m");
    close(fd);
}

static void check_covered_bind(void) {
    char p[900], line[64] = "", want[64];
    snprintf(want, sizeof want, "hidden %llu\n", hidden_value);
    snprintf(p, sizeof p, "%s/marker", bound);
    FILE *f = fopen(p, "r");
    if (!f || !fgets(line, sizeof line, f) || strcmp(line, want) != 0) fail("%s: '%s', want '%s' (the bind of a covered directory)", p, line, want);
    if (f) fclose(f);
    snprintf(p, sizeof p, "%s/deep", hidden);
    if (access(p, F_OK) == 0) fail("%s shows: its cover is gone", p);
}

static void check_files(void) {
    char p[800];
    for (int i = 0; i < FILES; i++) {
        path_of(p, sizeof p, i);
        struct stat st;
        if (stat(p, &st) != 0) { fail("%s is gone", p); continue; }
        if ((size_t)st.st_size != sizes[i] || (st.st_mode & 07777) != modes[i]) fail("%s: size %ld mode %o, was %zu %o", p, (long)st.st_size, st.st_mode & 07777, sizes[i], modes[i]);
        if (st.st_mtim.tv_sec != times[i] || st.st_mtim.tv_nsec != 123456789) fail("%s: modified time changed", p);
        if (st.st_uid != getuid()) fail("%s: owner %d", p, st.st_uid);
        int fd = open(p, O_RDONLY);
        unsigned char buf[4096];
        size_t at = 0;
        ssize_t n;
        while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) {
            for (ssize_t k = 0; k < n; k++) if (buf[k] != byte_of(i, at + k)) { fail("%s: byte %zu differs", p, at + k); n = 0; break; }
            at += (size_t)n;
        }
        if (fd >= 0) close(fd);
    }
    char target[256] = "";
    snprintf(p, sizeof p, "%s/link", top);
    if (readlink(p, target, sizeof target - 1) < 0 || strcmp(target, "d1/sub/f1") != 0) fail("symlink: '%s'", target);
    struct stat a, b;
    path_of(p, sizeof p, 2);
    stat(p, &a);
    snprintf(p, sizeof p, "%s/hard", top);
    if (stat(p, &b) != 0 || a.st_ino != b.st_ino || a.st_nlink != 2) fail("hard link: not one file with two names");
    snprintf(p, sizeof p, "%s/fifo", top);
    if (stat(p, &a) != 0 || !S_ISFIFO(a.st_mode) || (a.st_mode & 0777) != 0640) fail("fifo");
    snprintf(p, sizeof p, "%s/d1/sub", top);
    if (stat(p, &a) != 0 || (a.st_mode & 07777) != 0701) fail("directory mode %o", a.st_mode & 07777);
}

static int child(int kept, int done, int told) {
    if (unshare(CLONE_NEWNS)) { fail("unshare: %m"); return 1; }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) { fail("private: %m"); return 1; }
    if (umount2(gone, 0)) { fail("umount %s: %m", gone); return 1; }
    if (mount("seeded", top, "tmpfs", MS_NOSUID, big ? "size=80m,mode=0751" : "size=8m,mode=0751")) { fail("mount tmpfs: %m"); return 1; }
    make_files();
    char data[800];
    if (big) {
        snprintf(data, sizeof data, "%s/big", top);
        int b = open(data, O_CREAT | O_WRONLY, 0600);
        if (b < 0 || ftruncate(b, 65 << 20)) { fail("big file: %m"); return 1; }
        close(b);
    }
    snprintf(data, sizeof data, "%s/d0", top);
    if (mount(data, view, NULL, MS_BIND, NULL) || mount(NULL, view, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL)) { fail("read-only bind: %m"); return 1; }
    if (mount("inner", inner, "tmpfs", 0, "size=1m") || mount(NULL, inner, NULL, MS_SHARED, NULL)) { fail("inner tmpfs: %m"); return 1; }
    make_extra_mounts();
    make_covered_bind();
    char p[800];
    snprintf(p, sizeof p, "%s/mapped", inner);
    int mfd = open(p, O_CREAT | O_RDWR, 0600);
    if (mfd < 0 || ftruncate(mfd, 8192)) { fail("mapped file: %m"); return 1; }
    char *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    close(mfd);
    if (map == MAP_FAILED) { fail("mmap: %m"); return 1; }
    strcpy(map + 4096, "written through the mapping");
    int own = open(p, O_RDONLY);
    int own_id = mount_id_of_fd(own);
    int kept_id = mount_id_of_fd(kept);
    if (!mounted_here(own_id) || mounted_here(kept_id)) fail("before: the mount ids do not place the files (own %d, kept %d)", own_id, kept_id);

    /* The parent reaches this tmpfs through our descriptor 100. */
    int topfd = open(top, O_RDONLY | O_DIRECTORY);
    if (topfd < 0 || dup2(topfd, 100) != 100) { fail("dir fd: %m"); return 1; }
    close(topfd);
    handle_term();
    if (write(done, "1", 1) != 1) return 1;
    close(done);
    wait_for_term();

    /* Namespace inode numbers are reused: the parent's as it is now (it
     * writes it here before the SIGTERM), not as it was. */
    char ns[64] = "", theirs[64] = "";
    if (readlink("/proc/self/ns/mnt", ns, sizeof ns - 1) < 0 || read(told, theirs, sizeof theirs - 1) <= 0 || strcmp(ns, theirs) == 0)
        fail("the child is in its parent's mount namespace (%s, the parent's %s)", ns, theirs);
    check_files();
    check_extra_mounts();
    check_covered_bind();
    snprintf(p, sizeof p, "%s/sub/f0", view);
    int w = open(p, O_WRONLY);
    if (w >= 0 || errno != EROFS) fail("the read-only bind took a write (fd %d, %m)", w);
    if (dev_of(view) != dev_of(top)) fail("the bind is not of the seeded tmpfs");
    if (dev_of(inner) == dev_of(top)) fail("the inner tmpfs is not mounted");
    if (!mountinfo_says(inner, "shared:")) fail("the inner tmpfs is not shared any more");
    if (mountinfo_says(top, "shared:")) fail("the seeded tmpfs became shared");
    if (dev_of(gone) != dev_of(work)) fail("%s is mounted again in the child", gone);
    if (strcmp(map + 4096, "written through the mapping") != 0) fail("the shared mapping lost its bytes");
    strcpy(map, "second");
    char got[16] = "";
    if (pread(own, got, 6, 0) != 6 || strcmp(got, "second") != 0) fail("the mapping is not of the file ('%s')", got);
    if (!mounted_here(mount_id_of_fd(own))) fail("its own file is not on its namespace's mount");
    if (mounted_here(mount_id_of_fd(kept))) fail("the file kept from its parent's namespace moved to the child's");
    /* The parent's tmpfs, seen in both namespaces: one filesystem. */
    char shared_path[700];
    snprintf(shared_path, sizeof shared_path, "%s/from-child", outer);
    int s = open(shared_path, O_CREAT | O_WRONLY, 0644);
    if (s < 0 || write(s, "x", 1) != 1) fail("writing to the shared tmpfs: %m");
    if (s >= 0) close(s);
    char k[32] = "";
    if (pread(kept, k, sizeof k - 1, 0) != 11 || strcmp(k, "kept across") != 0) fail("the kept file reads '%s'", k);
    return fixture_failures ? 1 : 0;
}

int main(int argc, char **argv) {
    rng = argc > 1 ? strtoull(argv[1], NULL, 10) | 1 : 1;
    snprintf(work, sizeof work, "%s", argc > 2 ? argv[2] : ".");
    big = argc > 3 && strcmp(argv[3], "big") == 0;
    snprintf(outer, sizeof outer, "%s/outer", work);
    snprintf(gone, sizeof gone, "%s/gone", work);
    snprintf(top, sizeof top, "%s/seeded", work);
    snprintf(view, sizeof view, "%s/seeded/view", work);
    snprintf(inner, sizeof inner, "%s/seeded/inner", work);
    mkdir(outer, 0755); mkdir(gone, 0755); mkdir(top, 0755);
    if (unshare_as_self(CLONE_NEWNS)) return 1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) { fail("private: %m"); return finish(); }
    if (mount("outer", outer, "tmpfs", 0, "size=1m") || mount("gone", gone, "tmpfs", 0, "size=1m")) { fail("parent's tmpfs: %m"); return finish(); }
    char p[700];
    snprintf(p, sizeof p, "%s/kept", outer);
    int kept = open(p, O_CREAT | O_RDWR, 0644);
    if (kept < 0 || write(kept, "kept across", 11) != 11) { fail("kept file: %m"); return finish(); }
    int sync[2], tell[2];
    if (pipe(sync) || pipe(tell)) return 1;
    pid_t c = fork();
    if (c == 0) {
        close(sync[0]);
        close(tell[1]);
        exit(child(kept, sync[1], tell[0]));
    }
    close(sync[1]);
    close(tell[0]);
    close(kept);
    char one;
    if (read(sync[0], &one, 1) != 1) { fail("the child did not get ready"); return finish(); }
    close(sync[0]);
    /* A file of the child's namespace, watched and held open from ours (zdtm inotify01). */
    char watched[128];
    snprintf(watched, sizeof watched, "/proc/%d/fd/100/d2/sub/f2", c);
    int ino = inotify_init1(IN_NONBLOCK);
    int held = open(watched, O_RDWR);
    if (ino < 0 || held < 0 || inotify_add_watch(ino, watched, IN_CLOSE_WRITE) != 1) { fail("inotify on %s: %m", watched); return finish(); }
    ready();
    wait_for_term();
    char ns[64] = "";
    if (readlink("/proc/self/ns/mnt", ns, sizeof ns - 1) < 0 || write(tell[1], ns, strlen(ns)) < 0) fail("telling the child our namespace: %m");
    close(held);
    struct inotify_event ev[4];
    ssize_t got = read(ino, ev, sizeof ev);
    if (got < (ssize_t)sizeof ev[0] || ev[0].wd != 1 || !(ev[0].mask & IN_CLOSE_WRITE)) fail("no IN_CLOSE_WRITE from the watch on the child's file (%zd)", got);
    kill(c, SIGTERM);
    int status = 0;
    if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the child failed (status %#x)", status);
    snprintf(p, sizeof p, "%s/from-child", outer);
    if (access(p, F_OK) != 0) fail("the child's write to the shared tmpfs is not seen here");
    if (dev_of(gone) == dev_of(work)) fail("%s is not mounted in the parent any more", gone);
    return finish();
}
