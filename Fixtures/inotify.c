/* inotify watches come back by path with their numbers and masks: a
 * directory (create/delete), a file (modify), a removed watch leaving a gap,
 * another file after the gap, and a file removed since but still open
 * (watched through that descriptor; its number above the inotify's). A
 * second instance has a seeded number of directory watches (10 to 129:
 * fdinfo gives watch numbers in hex, and from 10 on they are not decimal),
 * a seeded part of them removed, and each must report its own directory.
 * A third has an event unread at the checkpoint, which is not saved.
 * Usage: inotify DIR [SEED] */
#include "fixture.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>

static int next_event(int fd, struct inotify_event *out, int timeout_ms) {
    static char buf[4096] __attribute__((aligned(8)));
    static ssize_t len, at;
    if (at >= len) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, timeout_ms) != 1) return 0;
        len = read(fd, buf, sizeof buf);
        at = 0;
        if (len <= 0) return 0;
    }
    struct inotify_event *e = (struct inotify_event *)(buf + at);
    *out = *e;
    at += (ssize_t)(sizeof *e + e->len);
    return 1;
}

static void touch(const char *dir, const char *name, const char *text) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) < 0) fail("write %s", p);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char dir[PATH_MAX], file[PATH_MAX], gap[PATH_MAX], other[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/watched", argv[1]);
    mkdir(dir, 0700);
    touch(dir, "file", "a");
    touch(dir, "gap", "b");
    touch(dir, "other", "c");
    snprintf(file, sizeof file, "%s/file", dir);
    snprintf(gap, sizeof gap, "%s/gap", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    int in = inotify_init1(IN_NONBLOCK);
    int wd_dir = inotify_add_watch(in, dir, IN_CREATE | IN_DELETE);
    int wd_file = inotify_add_watch(in, file, IN_MODIFY);
    int wd_gap = inotify_add_watch(in, gap, IN_MODIFY);
    int wd_other = inotify_add_watch(in, other, IN_MODIFY | IN_ONESHOT);
    inotify_rm_watch(in, wd_gap);
    char removed[PATH_MAX];
    snprintf(removed, sizeof removed, "%s/removed", argv[1]);
    int held = open(removed, O_RDWR | O_CREAT, 0600);
    int wd_removed = inotify_add_watch(in, removed, IN_MODIFY);
    if (held < 0 || wd_removed < 0 || unlink(removed) != 0) fail("the removed file: %s", strerror(errno));
    struct inotify_event e;
    while (next_event(in, &e, 0)) {}  /* drop the IN_IGNORED of the removed watch */

    static char sub[130][PATH_MAX];
    static int wds[130], gone[130];
    unsigned long long rng = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    int many = inotify_init1(IN_NONBLOCK), n = 10 + (int)((rng = seed_mix(rng)) % 120);
    for (int k = 0; k < n; k++) {
        snprintf(sub[k], sizeof sub[k], "%s/many.%d", argv[1], k);
        mkdir(sub[k], 0700);
        wds[k] = inotify_add_watch(many, sub[k], IN_CREATE);
        if (wds[k] != k + 1) fail("watch %d of many: got number %d", k + 1, wds[k]);
    }
    for (int k = 0; k < n; k++)
        if ((rng = seed_mix(rng)) % 4 == 0) { gone[k] = 1; inotify_rm_watch(many, wds[k]); }
    char drain[4096] __attribute__((aligned(8)));
    while (read(many, drain, sizeof drain) > 0) {}  /* their IN_IGNORED */

    /* A third instance with an event unread at the checkpoint (the checkpoint
     * says so: no call puts an event into a group again). */
    char pending_dir[PATH_MAX];
    snprintf(pending_dir, sizeof pending_dir, "%s/pending", argv[1]);
    mkdir(pending_dir, 0700);
    int pending = inotify_init1(IN_NONBLOCK);
    if (inotify_add_watch(pending, pending_dir, IN_CREATE) != 1) fail("the pending instance's watch: %s", strerror(errno));
    touch(pending_dir, "made", "d");

    ready();
    wait_for_term();

    if (!(fcntl(in, F_GETFL) & O_NONBLOCK)) fail("inotify fd lost O_NONBLOCK");
    touch(dir, "new", "x");
    if (!next_event(in, &e, 2000) || e.wd != wd_dir || !(e.mask & IN_CREATE)) fail("no IN_CREATE on watch %d (got wd %d mask %x)", wd_dir, e.wd, e.mask);
    touch(dir, "file", "y");
    if (!next_event(in, &e, 2000) || e.wd != wd_file || !(e.mask & IN_MODIFY)) fail("no IN_MODIFY on watch %d (got wd %d)", wd_file, e.wd);
    touch(dir, "other", "z");
    if (!next_event(in, &e, 2000) || e.wd != wd_other || !(e.mask & IN_MODIFY)) fail("no IN_MODIFY on watch %d (got wd %d)", wd_other, e.wd);
    if (write(held, "r", 1) != 1) fail("write to the removed file");
    int seen = 0;  /* the one-shot watch's IN_IGNORED may come first */
    while (!seen && next_event(in, &e, 2000)) {
        if (e.wd == wd_removed && (e.mask & IN_MODIFY)) seen = 1;
        else if (!(e.mask & IN_IGNORED)) fail("unexpected event on watch %d (mask %x)", e.wd, e.mask);
    }
    if (!seen) fail("no IN_MODIFY on watch %d of the removed file", wd_removed);
    touch(dir, "gap", "w");
    while (next_event(in, &e, 200)) if (e.wd == wd_gap) fail("the removed watch %d came back", wd_gap);

    static char buf[4096] __attribute__((aligned(8)));
    for (int k = 0; k < n; k++) {
        touch(sub[k], "new", "m");
        if (gone[k]) continue;
        struct pollfd p = { many, POLLIN, 0 };
        ssize_t len = poll(&p, 1, 2000) == 1 ? read(many, buf, sizeof buf) : -1;
        struct inotify_event *got = (struct inotify_event *)buf;
        if (len < (ssize_t)sizeof *got) { fail("%d watches: no event for %s (watch %d)", n, sub[k], wds[k]); break; }
        if (got->wd != wds[k] || !(got->mask & IN_CREATE)) { fail("%d watches: a file made in %s came as watch %d (mask %x), not %d", n, sub[k], got->wd, got->mask, wds[k]); break; }
    }
    if (read(many, buf, sizeof buf) > 0) fail("%d watches: an event on a removed watch (watch %d)", n, ((struct inotify_event *)buf)->wd);
    return finish();
}
