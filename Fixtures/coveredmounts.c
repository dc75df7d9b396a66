/* Mounts of a namespace that no path reaches, with options of their own.
 * In the checkpointer's namespace it mounts two tmpfs stacked at
 * WORKDIR/stack and one at WORKDIR/cover/x (the test unmounts them after).
 * In a mount namespace of its own, copied from there, it makes the lower
 * of the stack read-only and nosuid (moving the upper aside to reach it),
 * makes x read-only and noexec, then mounts a tmpfs over WORKDIR/cover,
 * which hides x: bubblewrap's /proc and /dev do that to the host's. After
 * the restart both must keep their options, the upper stay writable, and
 * the stack keep its order.
 * usage: coveredmounts WORKDIR   (root) */
#include "fixture.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char stack[600], cover[600], inner[600], aside[600];

/* The options and source of each mount at `point`, in mountinfo's order, as "OPTIONS SOURCE;". */
static void mounts_at(const char *point, char *out, size_t size) {
    out[0] = 0;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) { fail("mountinfo: %s", strerror(errno)); return; }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char where[1024], options[512], source[256];
        if (sscanf(line, "%*s %*s %*s %*s %1023s %511s", where, options) != 2) continue;
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(dash, " - %*s %255s", source) != 1 || strcmp(where, point) != 0) continue;
        /* relatime and the like vary with the kernel: only the flags tested here. */
        char kept[64] = "";
        strcat(kept, strncmp(options, "ro", 2) == 0 ? "ro" : "rw");
        if (strstr(options, "nosuid")) strcat(kept, ",nosuid");
        if (strstr(options, "noexec")) strcat(kept, ",noexec");
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s %s;", kept, source);
    }
    fclose(f);
}

static void check(const char *when) {
    char got[1024];
    mounts_at(stack, got, sizeof got);
    if (strcmp(got, "ro,nosuid cm-lower;rw cm-upper;") != 0) fail("%s: the stack at %s is \"%s\"", when, stack, got);
    mounts_at(inner, got, sizeof got);
    if (strcmp(got, "ro,noexec cm-inner;") != 0) fail("%s: the covered mount at %s is \"%s\"", when, inner, got);
    mounts_at(cover, got, sizeof got);
    if (strcmp(got, "rw cm-cover;") != 0) fail("%s: the mount covering it is \"%s\"", when, got);
}

int main(int argc, char **argv) {
    handle_term();
    if (argc < 2) { fail("usage: coveredmounts WORKDIR"); return finish(); }
    snprintf(stack, sizeof stack, "%s/stack", argv[1]);
    snprintf(cover, sizeof cover, "%s/cover", argv[1]);
    snprintf(inner, sizeof inner, "%s/cover/x", argv[1]);
    snprintf(aside, sizeof aside, "%s/aside", argv[1]);
    mkdir(stack, 0755); mkdir(cover, 0755); mkdir(inner, 0755); mkdir(aside, 0755);
    if (mount("cm-lower", stack, "tmpfs", 0, "size=1m") || mount("cm-upper", stack, "tmpfs", 0, "size=1m")
        || mount("cm-inner", inner, "tmpfs", 0, "size=1m")) { fail("mounting in the checkpointer's namespace: %s", strerror(errno)); return finish(); }
    if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) { fail("unshare: %s", strerror(errno)); return finish(); }

    /* The upper aside (open_tree of an attached mount, then move_mount), the lower changed, the upper back. */
    int upper = (int)syscall(SYS_open_tree, AT_FDCWD, stack, O_CLOEXEC);
    if (upper < 0 || syscall(SYS_move_mount, upper, "", AT_FDCWD, aside, 4 /* MOVE_MOUNT_F_EMPTY_PATH */)) { fail("moving the upper aside: %s", strerror(errno)); return finish(); }
    if (mount(NULL, stack, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL)) fail("remounting the lower: %s", strerror(errno));
    if (syscall(SYS_move_mount, upper, "", AT_FDCWD, stack, 4)) fail("moving the upper back: %s", strerror(errno));
    close(upper);
    if (mount(NULL, inner, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOEXEC, NULL)) fail("remounting x: %s", strerror(errno));
    if (mount("cm-cover", cover, "tmpfs", 0, "size=1m")) fail("covering x: %s", strerror(errno));
    check("before");

    ready();
    wait_for_term();
    check("after the restart");
    return finish();
}
