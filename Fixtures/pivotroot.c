/* A container's root: a child in a mount namespace of its own moves its root
 * (pivot_root) onto a tmpfs of seeded files, with a bind of a directory of
 * the parent's namespace at /outside, a read-only bind of one of its own
 * directories at /view, and by seed a proc of its own (root only) and a
 * read-only root filesystem; or (VARIANT "overlay") the root is an overlay of
 * a directory of the parent's namespace with a file in it, writes going to
 * an upper directory there; or (VARIANT "bind") a bind of a directory of the
 * parent's namespace, which the parent writes into after the restart. The parent shares a page and a pipe with it.
 * After the restart the child's root must be that tmpfs again: the same
 * entries at / (nothing the restore lent it left behind), every file, the
 * binds (the parent's write after the restart seen through /outside), the
 * read-only filesystem, and as many mounts as before.
 * As a user, a user namespace mapping the uid and gid comes first.
 * usage: pivotroot SEED WORKDIR [VARIANT]
 *   VARIANT: "ro", "proc", "ro+proc", "overlay", "bind" or "plain" (default: by seed); proc as root only. */
#define _GNU_SOURCE
#include "fixture.h"
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#define MAX_FILES 6
#define TMPFS_MAGIC 0x01021994
#define PROC_MAGIC 0x9fa0
#define OVERLAY_MAGIC 0x794c7630

static uint64_t rng;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static char work[512], shared_dir[600], newroot[600];
static int files, with_proc, read_only, overlay, bound;
static char lower[600], upper[600], workdir[600], bindroot[600];
static size_t sizes[MAX_FILES];
static mode_t modes[MAX_FILES];
static volatile char *page;

static unsigned char byte_of(int i, size_t k) { return (unsigned char)(i * 29 + k * 13 + 3); }

static int count_mounts(void) {
    char line[2048];
    int n = 0;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    while (f && fgets(line, sizeof line, f)) n++;
    if (f) fclose(f);
    return n;
}

static void make_files(void) {
    char p[800];
    snprintf(p, sizeof p, "%s/etc", newroot); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/etc/sub", newroot); mkdir(p, 0711);
    for (int i = 0; i < files; i++) {
        sizes[i] = next() % 20000;
        modes[i] = 0600 | (next() % 2 ? 0044 : 0);
        snprintf(p, sizeof p, "%s/etc/%sf%d", newroot, i % 2 ? "sub/" : "", i);
        int fd = open(p, O_CREAT | O_WRONLY, modes[i]);
        for (size_t k = 0; fd >= 0 && k < sizes[i]; k++) { unsigned char b = byte_of(i, k); if (write(fd, &b, 1) != 1) break; }
        if (fd >= 0) { fchmod(fd, modes[i]); close(fd); }
    }
}

static void check_files(void) {
    char p[128];
    for (int i = 0; i < files; i++) {
        snprintf(p, sizeof p, "/etc/%sf%d", i % 2 ? "sub/" : "", i);
        struct stat st;
        if (stat(p, &st) != 0) { fail("%s is gone", p); continue; }
        if ((size_t)st.st_size != sizes[i] || (st.st_mode & 07777) != modes[i]) fail("%s: size %ld mode %o, was %zu %o", p, (long)st.st_size, st.st_mode & 07777, sizes[i], modes[i]);
        int fd = open(p, O_RDONLY);
        unsigned char b;
        for (size_t k = 0; fd >= 0 && read(fd, &b, 1) == 1; k++) if (b != byte_of(i, k)) { fail("%s: byte %zu differs", p, k); break; }
        if (fd >= 0) close(fd);
        /* The read-only bind of /etc shows the same file. */
        snprintf(p, sizeof p, "/view/%sf%d", i % 2 ? "sub/" : "", i);
        if (stat(p, &st) != 0 || (size_t)st.st_size != sizes[i]) fail("%s: not the same file through the bind", p);
    }
}

/* The names at / must be exactly these. */
static void check_root_entries(void) {
    const char *want[] = {"etc", "outside", "view", with_proc ? "proc" : overlay ? "lowerfile" : bound ? "after" : NULL};
    int seen = 0, expected = with_proc || overlay || bound ? 4 : 3;
    DIR *d = opendir("/");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int known = 0;
        for (int k = 0; k < 4; k++) if (want[k] && !strcmp(want[k], e->d_name)) known = 1;
        if (!known) fail("/ has %s, which it did not have", e->d_name);
        else seen++;
    }
    if (d) closedir(d);
    if (seen != expected) fail("/ has %d of its %d entries", seen, expected);
}

static int child(int ready_fd, int told_fd) {
    if (unshare(CLONE_NEWNS)) { fail("unshare: %m"); return 1; }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) { fail("private: %m"); return 1; }
    if (overlay) {
        char options[2048];
        snprintf(options, sizeof options, "lowerdir=%s,upperdir=%s,workdir=%s%s", lower, upper, workdir, geteuid() == 0 ? "" : ",userxattr");
        if (mount("pivotroot", newroot, "overlay", MS_NOSUID, options)) { fail("overlay: %m"); return 1; }
    } else if (bound) {
        if (mount(bindroot, newroot, NULL, MS_BIND, NULL)) { fail("bind of %s: %m", bindroot); return 1; }
    } else if (mount("pivotroot", newroot, "tmpfs", MS_NOSUID, "size=4m,mode=0755")) { fail("tmpfs: %m"); return 1; }
    make_files();
    char p[800], q[800];
    snprintf(p, sizeof p, "%s/outside", newroot); mkdir(p, 0755);
    if (mount(shared_dir, p, NULL, MS_BIND, NULL)) { fail("bind of %s: %m", shared_dir); return 1; }
    snprintf(p, sizeof p, "%s/view", newroot); mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/etc", newroot);
    if (mount(q, p, NULL, MS_BIND, NULL) || mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL)) { fail("read-only bind: %m"); return 1; }
    if (with_proc) {
        snprintf(p, sizeof p, "%s/proc", newroot); mkdir(p, 0555);
        if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) { fail("proc: %m"); return 1; }
    }
    if (chdir(newroot) || syscall(SYS_pivot_root, ".", ".") || umount2(".", MNT_DETACH) || chdir("/")) { fail("pivot_root: %m"); return 1; }
    if (read_only && mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL)) { fail("read-only root: %m"); return 1; }
    int mounts = count_mounts();
    if (write(ready_fd, "r", 1) != 1) return 1;
    close(ready_fd);
    wait_for_term();

    struct statfs sf;
    unsigned long want_type = overlay ? OVERLAY_MAGIC : TMPFS_MAGIC;
    if (!bound && (statfs("/", &sf) || (unsigned long)sf.f_type != want_type)) fail("/ is not the %s (type %#lx)", overlay ? "overlay" : "tmpfs", (unsigned long)sf.f_type);
    if (overlay) {
        char line[64] = "";
        FILE *l = fopen("/lowerfile", "r");
        if (!l || !fgets(line, sizeof line, l) || strcmp(line, "from below\n") != 0) fail("/lowerfile says '%s'", line);
        if (l) fclose(l);
    }
    check_root_entries();
    if (overlay) {
        /* Written after the restart: it must land in the same upper directory. */
        FILE *l = fopen("/written-above", "w");
        if (!l || fputs("above\n", l) < 0 || fclose(l) != 0) fail("writing /written-above: %m");
    }
    check_files();
    char word[64] = "";
    ssize_t n = read(told_fd, word, sizeof word - 1);
    if (n <= 0) fail("nothing from the parent through the pipe");
    else word[n] = 0;
    char line[128] = "";
    FILE *f = fopen("/outside/after", "r");
    if (!f || !fgets(line, sizeof line, f) || strcmp(line, word) != 0) fail("/outside/after says '%s', the parent wrote '%s'", line, word);
    if (f) fclose(f);
    if (strcmp((const char *)page, word) != 0) fail("the shared page says '%s', the parent wrote '%s'", (const char *)page, word);
    if (bound) {
        /* The parent wrote it into the directory bound as our root. */
        line[0] = 0;
        f = fopen("/after", "r");
        if (!f || !fgets(line, sizeof line, f) || strcmp(line, word) != 0) fail("/after says '%s': / is not the parent's %s", line, bindroot);
        if (f) fclose(f);
    }
    struct statvfs v;
    if (statvfs("/view", &v) || !(v.f_flag & ST_RDONLY)) fail("/view is not read-only");
    int probe = open("/written-after", O_CREAT | O_WRONLY, 0600);
    if (read_only && (probe >= 0 || errno != EROFS)) fail("the root filesystem is not read-only (%m)");
    if (!read_only && probe < 0) fail("the root filesystem is not writable: %m");
    if (probe >= 0) { close(probe); unlink("/written-after"); }
    if (with_proc && (statfs("/proc", &sf) || sf.f_type != PROC_MAGIC)) fail("/proc is not a proc");
    int now = count_mounts();
    if (with_proc && now != mounts) fail("%d mounts, there were %d", now, mounts);
    if (!with_proc && access("/proc/self", F_OK) == 0) fail("the restore's /proc is still there");
    return fixture_failures ? 1 : 0;
}

int main(int argc, char **argv) {
    rng = argc > 1 ? strtoull(argv[1], NULL, 10) | 1 : 1;
    snprintf(work, sizeof work, "%s", argc > 2 ? argv[2] : ".");
    files = 2 + (int)(next() % (MAX_FILES - 1));
    read_only = (int)(next() % 2);
    with_proc = (int)(next() % 2);
    if (argc > 3) {
        overlay = strcmp(argv[3], "overlay") == 0;
        bound = strcmp(argv[3], "bind") == 0;
        read_only = !overlay && !bound && strstr(argv[3], "ro") != NULL;
        with_proc = strstr(argv[3], "proc") != NULL;
    }
    with_proc = with_proc && geteuid() == 0;
    snprintf(shared_dir, sizeof shared_dir, "%s/shared", work);
    snprintf(newroot, sizeof newroot, "%s/newroot", work);
    mkdir(shared_dir, 0755);
    mkdir(newroot, 0755);
    snprintf(lower, sizeof lower, "%s/lower", work);
    snprintf(upper, sizeof upper, "%s/upper", work);
    snprintf(workdir, sizeof workdir, "%s/overlay-work", work);
    snprintf(bindroot, sizeof bindroot, "%s/bindroot", work);
    if (bound) mkdir(bindroot, 0755);
    if (overlay) {
        mkdir(lower, 0755); mkdir(upper, 0755); mkdir(workdir, 0755);
        char p[700];
        snprintf(p, sizeof p, "%s/lowerfile", lower);
        FILE *l = fopen(p, "w");
        if (!l || fputs("from below\n", l) < 0 || fclose(l) != 0) { fail("%s: %m", p); return finish(); }
    }
    printf("files %d, read-only root %d, proc %d\n", files, read_only, with_proc);
    fflush(stdout);
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) { fail("mmap: %m"); return finish(); }
    if (unshare_as_self(CLONE_NEWNS)) return 1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) { fail("private: %m"); return finish(); }
    int ready_pipe[2], tell[2];
    if (pipe(ready_pipe) || pipe(tell)) return 1;
    handle_term();
    pid_t c = fork();
    if (c == 0) {
        close(ready_pipe[0]);
        close(tell[1]);
        exit(child(ready_pipe[1], tell[0]));
    }
    close(ready_pipe[1]);
    close(tell[0]);
    char one;
    if (read(ready_pipe[0], &one, 1) != 1) { fail("the child did not get ready"); return finish(); }
    ready();
    wait_for_term();
    char word[32], p[700];
    snprintf(word, sizeof word, "after %llu", (unsigned long long)(next() % 100000));
    strcpy((char *)page, word);
    snprintf(p, sizeof p, "%s/after", shared_dir);
    FILE *f = fopen(p, "w");
    if (!f || fputs(word, f) < 0 || fclose(f) != 0) fail("writing %s: %m", p);
    if (bound) {
        snprintf(p, sizeof p, "%s/after", bindroot);
        f = fopen(p, "w");
        if (!f || fputs(word, f) < 0 || fclose(f) != 0) fail("writing %s: %m", p);
    }
    if (write(tell[1], word, strlen(word)) < 0) fail("telling the child: %m");
    kill(c, SIGTERM);
    int status = 0;
    if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the child failed (status %#x)", status);
    snprintf(p, sizeof p, "%s/written-above", upper);
    if (overlay && access(p, F_OK) != 0) fail("the child's write after the restart is not in %s", upper);
    return finish();
}
