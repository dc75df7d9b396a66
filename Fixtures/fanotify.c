/* fanotify (zdtm fanotify00): as root a group with an inode mark (modify,
 * close-write), a mount mark (open) and an ignored mask on the inode (open,
 * surviving modify); as a user (no CAP_SYS_ADMIN) the unprivileged kind,
 * FAN_REPORT_FID with an inode mark. After restart fdinfo lists the same
 * group flags and marks, and the marks still work: writing the file reports
 * modify and close-write, opening it reports nothing (ignored), opening
 * another file on the mount reports open. Besides, a seeded number of
 * files get marks of random masks (some with ignored masks and their flags)
 * in a random order, which fdinfo must list the same after restart; and a
 * marked file removed while still open, whose writes are still reported.
 * Usage: fanotify SEED */
#include "fixture.h"
#include <fcntl.h>
#include <sys/fanotify.h>
#include <limits.h>
#include <sys/stat.h>

static char lines[8192];

/* The "fanotify " lines of this descriptor's fdinfo, as they are, but
 * the mark on inode `skip` (made again on another inode: said by *skipped). */
static void marks_of(int fd, char *out, size_t size, unsigned long skip, int *skipped) {
    char skipping[32];
    snprintf(skipping, sizeof skipping, " ino:%lx ", skip);
    *skipped = 0;
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int f = open(path, O_RDONLY);
    ssize_t n = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
    if (f >= 0) close(f);
    out[0] = 0;
    if (n <= 0) return;
    buf[n] = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, skipping) && strstr(line, "fanotify") == line) *skipped = 1;
        else if (strncmp(line, "fanotify ", 9) == 0 && strlen(out) + strlen(line) + 2 < size) { strcat(out, line); strcat(out, "\n"); }
}

/* Events of this process since the last call, as a mask per file: bit
 * events of `watched` in *on_watched, of `other` in *on_other. */
static void events(int fd, int fid, const char *watched, const char *other, unsigned long long *on_watched, unsigned long long *on_other) {
    char buf[8192] __attribute__((aligned(8)));
    *on_watched = *on_other = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) return;
        for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
            if (m->pid != getpid()) { if (m->fd >= 0) close(m->fd); continue; }
            if (fid) { *on_watched |= m->mask; continue; }  /* the only mark is the watched file's */
            char link[64], target[PATH_MAX] = { 0 };
            snprintf(link, sizeof link, "/proc/self/fd/%d", m->fd);
            if (m->fd >= 0 && readlink(link, target, sizeof target - 1) > 0) {
                if (strcmp(target, watched) == 0) *on_watched |= m->mask;
                if (strcmp(target, other) == 0) *on_other |= m->mask;
            }
            if (m->fd >= 0) close(m->fd);
        }
    }
}

int main(int argc, char **argv) {
    const char *seed = argc > 1 ? argv[1] : "1";
    char watched[PATH_MAX], other[PATH_MAX], cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) { fail("getcwd"); return finish(); }
    snprintf(watched, sizeof watched, "%s/fan-watched", cwd);
    snprintf(other, sizeof other, "%s/fan-other", cwd);
    close(open(watched, O_CREAT | O_WRONLY, 0600));
    close(open(other, O_CREAT | O_WRONLY, 0600));
    int root = geteuid() == 0;
    int fd = root ? fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE, O_RDONLY | O_LARGEFILE)
                  : fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_REPORT_FID, 0);
    if (fd < 0) { fail("fanotify_init: %s", strerror(errno)); return finish(); }
    if (fanotify_mark(fd, FAN_MARK_ADD, FAN_MODIFY | FAN_CLOSE_WRITE, AT_FDCWD, watched) != 0) fail("inode mark: %s", strerror(errno));
    if (root) {
        if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN, AT_FDCWD, cwd) != 0) fail("mount mark: %s", strerror(errno));
        if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY, FAN_OPEN, AT_FDCWD, watched) != 0)
            fail("ignored mask: %s", strerror(errno));
    }
    /* Seeded extra inode marks: random files, masks, ignored masks, order. */
    srand((unsigned)strtoul(seed, NULL, 10));
    static const unsigned long long masks[] = { FAN_ACCESS, FAN_MODIFY, FAN_CLOSE_WRITE, FAN_CLOSE_NOWRITE, FAN_OPEN };
    int extra = 1 + rand() % 5;
    for (int k = 0; k < extra; k++) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/fan-extra-%d", cwd, rand() % 4);
        close(open(path, O_CREAT | O_WRONLY, 0600));
        unsigned long long m = 0;
        for (int b = 0; b < 5; b++) if (rand() % 2) m |= masks[b];
        if (!m) m = FAN_MODIFY;
        if (fanotify_mark(fd, FAN_MARK_ADD, m, AT_FDCWD, path) != 0) fail("mark %s: %s", path, strerror(errno));
        if (root && rand() % 2 && fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | (rand() % 2 ? FAN_MARK_IGNORED_SURV_MODIFY : 0),
                                               masks[rand() % 5], AT_FDCWD, path) != 0)
            fail("ignored mask on %s: %s", path, strerror(errno));
    }
    /* A marked file removed while this process still holds it. */
    char gone_path[PATH_MAX + 16];
    snprintf(gone_path, sizeof gone_path, "%s/fan-removed", cwd);
    int gone = open(gone_path, O_CREAT | O_RDWR, 0600);
    if (gone < 0 || fanotify_mark(fd, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, gone_path) != 0 || unlink(gone_path) != 0)
        fail("removed marked file: %s", strerror(errno));
    struct stat gs;
    int listed;
    fstat(gone, &gs);
    marks_of(fd, lines, sizeof lines, (unsigned long)gs.st_ino, &listed);
    if (!strstr(lines, "mflags") || !listed) fail("fdinfo lists no mark: %s", lines);

    ready();
    wait_for_term();

    char now[8192];
    fstat(gone, &gs);
    marks_of(fd, now, sizeof now, (unsigned long)gs.st_ino, &listed);
    if (!listed) fail("no mark on the removed file's inode %lx", (unsigned long)gs.st_ino);
    if (strcmp(now, lines) != 0) fail("fdinfo's fanotify lines were\n%sand are\n%s", lines, now);
    if (!(fcntl(fd, F_GETFL) & O_NONBLOCK)) fail("the group is blocking now");
    unsigned long long w, o;
    events(fd, !root, watched, other, &w, &o);  /* drain what the restart did */
    int f = open(watched, O_WRONLY);
    if (f < 0 || write(f, "x", 1) != 1) fail("write %s: %s", watched, strerror(errno));
    close(f);
    close(open(other, O_RDONLY));
    events(fd, !root, watched, other, &w, &o);
    if ((w & (FAN_MODIFY | FAN_CLOSE_WRITE)) != (FAN_MODIFY | FAN_CLOSE_WRITE)) fail("events on the watched file: %llx, not modify and close-write", w);
    if (root && (w & FAN_OPEN)) fail("an open of the watched file was reported: its ignored mask is gone");
    if (root && !(o & FAN_OPEN)) fail("no open event for the other file: the mount mark is gone (%llx)", o);
    /* The removed file: a write through the descriptor that holds it is reported (as a user, FID
     * events do not say which file: the group's only other inode marks were drained above). */
    events(fd, !root, watched, other, &w, &o);
    if (pwrite(gone, "y", 1, 0) != 1) fail("write the removed file: %s", strerror(errno));
    unsigned long long any = 0;
    char buf[8192] __attribute__((aligned(8)));
    ssize_t n = read(fd, buf, sizeof buf);
    for (struct fanotify_event_metadata *m = (void *)buf; n > 0 && FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
        if (m->pid == getpid()) any |= m->mask;
        if (m->fd >= 0) close(m->fd);
    }
    if (!(any & FAN_MODIFY)) fail("no modify event for the removed file: its mark is gone");
    return finish();
}
