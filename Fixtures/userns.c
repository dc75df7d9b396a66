/* A user namespace of the tree's own (unshare -U; unshare -Ur): a child
 * made one, its parent wrote the maps (as root seeded ranges onto IDs far
 * from ours, an owner of their own and setgroups seeded; as a user its own
 * IDs to 0, setgroups denied), and the child became root inside, dropped a
 * seeded bounding set and forked a grandchild there. After the
 * restart both must still be root in one namespace with the same maps,
 * setgroups, owner and capabilities, see a file they made as theirs, and
 * use CAP_SYS_ADMIN over it (a UTS namespace of their own); the parent,
 * outside, sees them by their IDs outside.
 * With "owned", the child also made network, UTS and IPC namespaces inside
 * its user namespace (unshare -Urnui): they must still belong to it, with
 * its host name, loopback up, a listener that accepts, a SysV segment's
 * bytes (as root: a user's checkpoint cannot read another IPC namespace's
 * segments), and the capabilities over them (host name set, loopback down and
 * up again).
 * With "mounts", the child also made a mount namespace inside its user
 * namespace (unshare -Urm) and mounted a tmpfs there with a seeded file:
 * after the restart the namespace must still belong to its user namespace,
 * the tmpfs and its bytes be there, invisible outside, and the child may
 * mount and unmount a tmpfs of its own (CAP_SYS_ADMIN over it), unmount
 * the first one (its own mount, not one locked by the copy) and clear the
 * nosuid it had set on "/" (a copied mount: locked, but not that flag).
 * With "threads", the child has 1-4 more threads (seeded), blocked in a read:
 * after the restart each has its TID again, in the child's user namespace,
 * root there (a process of one thread only may enter one: they are made
 * after).
 * usage: userns SEED [owned|mounts|threads] */
#include "fixture.h"
#include <fcntl.h>
#include <sched.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <pthread.h>
#include <sys/syscall.h>

#define NS_GET_USERNS 0xb701
#define NS_GET_OWNER_UID 0xb704
static unsigned seed;
static int owned, mounts, root, listener = -1, shm_id = -1;
static unsigned char *shm_at;
static size_t shm_size;
static char hostname[64];

/* Whether namespace `kind` of this process belongs to its user namespace. */
static int belongs(const char *kind) {
    char path[64];
    struct stat user, st;
    snprintf(path, sizeof path, "/proc/self/ns/%s", kind);
    int fd = open(path, O_RDONLY);
    int owner = fd < 0 ? -1 : ioctl(fd, NS_GET_USERNS);
    int same = owner >= 0 && !stat("/proc/self/ns/user", &user) && !fstat(owner, &st) && st.st_ino == user.st_ino && st.st_dev == user.st_dev;
    if (owner >= 0) close(owner);
    if (fd >= 0) close(fd);
    return same;
}

static int loopback(int up) {
    struct ifreq req;
    int s = socket(AF_INET, SOCK_DGRAM, 0), ok = 0;
    memset(&req, 0, sizeof req);
    strcpy(req.ifr_name, "lo");
    if (s >= 0 && !ioctl(s, SIOCGIFFLAGS, &req)) {
        if (up < 0) ok = !!(req.ifr_flags & IFF_UP);
        else {
            req.ifr_flags = up ? (req.ifr_flags | IFF_UP) : (req.ifr_flags & ~IFF_UP);
            ok = !ioctl(s, SIOCSIFFLAGS, &req);
        }
    }
    if (s >= 0) close(s);
    return ok;
}

static struct sockaddr_in listen_address(void) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(20000 + seed % 20000), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    return a;
}

/* Network, UTS and IPC namespaces inside the user namespace, with something in each. */
static int make_owned(void) {
    if (unshare(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)) { printf("FAIL: owned namespaces: %m\n"); return -1; }
    snprintf(hostname, sizeof hostname, "inner-%u", seed);
    if (sethostname(hostname, strlen(hostname)) || !loopback(1)) { printf("FAIL: host name or loopback: %m\n"); return -1; }
    struct sockaddr_in a = listen_address();
    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof a) || listen(listener, 4)) { printf("FAIL: listener: %m\n"); return -1; }
    /* A user's checkpoint cannot read another IPC namespace's segments (README): root's only. */
    if (!root) return 0;
    shm_size = 4096 * (1 + seed % 4);
    shm_id = shmget(IPC_PRIVATE, shm_size, IPC_CREAT | 0600);
    shm_at = shm_id < 0 ? NULL : shmat(shm_id, NULL, 0);
    if (!shm_at || shm_at == (void *)-1) { printf("FAIL: segment: %m\n"); return -1; }
    for (size_t k = 0; k < shm_size; k++) shm_at[k] = (unsigned char)(seed + k * 13);
    return 0;
}

static void check_owned(const char *who, int mine) {
    const char *kinds[3] = { "net", "uts", "ipc" };
    for (int k = 0; k < 3; k++) if (!belongs(kinds[k])) fail("%s: its %s namespace does not belong to its user namespace", who, kinds[k]);
    char now[64] = "";
    gethostname(now, sizeof now);
    if (strcmp(now, hostname)) fail("%s: host name %s, was %s", who, now, hostname);
    if (!loopback(-1)) fail("%s: loopback down", who);
    if (!mine) return;
    struct sockaddr_in a = listen_address();
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a)) fail("%s: connecting to its listener: %m", who);
    int s = accept(listener, NULL, NULL);
    if (s < 0) fail("%s: accept: %m", who);
    if (s >= 0) close(s);
    if (c >= 0) close(c);
    if (shm_id < 0) return;
    for (size_t k = 0; k < shm_size; k++) if (shm_at[k] != (unsigned char)(seed + k * 13)) { fail("%s: segment byte %zu", who, k); break; }
    struct shmid_ds ds;
    if (shmctl(shm_id, IPC_STAT, &ds) || ds.shm_segsz != shm_size) fail("%s: segment %d: %m", who, shm_id);
    shmctl(shm_id, IPC_RMID, NULL);
}

/* The capabilities over them, once the grandchild has checked what they hold:
 * CAP_SYS_ADMIN for the UTS one, CAP_NET_ADMIN for the network one. */
static void use_owned(void) {
    if (sethostname("again", 5)) fail("child: sethostname in its own UTS namespace: %m");
    if (!loopback(0) || !loopback(1)) fail("child: loopback down and up in its own network namespace: %m");
}
static char mount_dir[64], mount_file[96];

/* "/" (copied from the parent's namespace, so locked) bound again with its
 * flags, and nosuid or not: a flag it set inside is its to clear again. */
static int root_nosuid(int on) {
    struct statvfs st;
    if (statvfs("/", &st)) return -1;
    unsigned long flags = MS_REMOUNT | MS_BIND | (on ? MS_NOSUID : 0);
    if (st.f_flag & ST_RDONLY) flags |= MS_RDONLY;
    if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
    return mount(NULL, "/", NULL, flags, NULL);
}

static int root_is_nosuid(void) {
    struct statvfs st;
    return !statvfs("/", &st) && (st.f_flag & ST_NOSUID);
}

/* A mount namespace inside the user namespace, a tmpfs in it with a seeded file. */
static int make_mounts(void) {
    if (unshare(CLONE_NEWNS)) { printf("FAIL: mount namespace: %m\n"); return -1; }
    if (root_is_nosuid() || root_nosuid(1) || !root_is_nosuid()) { printf("FAIL: / made nosuid inside: %m\n"); return -1; }
    snprintf(mount_dir, sizeof mount_dir, "userns-files/mnt-%u", seed);
    snprintf(mount_file, sizeof mount_file, "%s/data", mount_dir);
    char options[32];
    snprintf(options, sizeof options, "size=%uk,mode=0750", 64 + seed % 64 * 4);
    if ((mkdir(mount_dir, 0755) && errno != EEXIST) || mount("swiftcr-userns", mount_dir, "tmpfs", 0, options)) { printf("FAIL: tmpfs inside: %m\n"); return -1; }
    int fd = open(mount_file, O_CREAT | O_WRONLY, 0640);
    unsigned char bytes[4096];
    for (size_t k = 0; k < sizeof bytes; k++) bytes[k] = (unsigned char)(seed * 7 + k);
    if (fd < 0 || write(fd, bytes, sizeof bytes) != (ssize_t)sizeof bytes) { printf("FAIL: file on the tmpfs: %m\n"); return -1; }
    close(fd);
    return 0;
}

static void check_mounts(const char *who) {
    if (!belongs("mnt")) fail("%s: its mount namespace does not belong to its user namespace", who);
    unsigned char bytes[4096];
    int fd = open(mount_file, O_RDONLY);
    if (fd < 0 || read(fd, bytes, sizeof bytes) != (ssize_t)sizeof bytes) fail("%s: %s: %m", who, mount_file);
    else for (size_t k = 0; k < sizeof bytes; k++) if (bytes[k] != (unsigned char)(seed * 7 + k)) { fail("%s: byte %zu of %s", who, k, mount_file); break; }
    if (fd >= 0) close(fd);
    struct stat st;
    if (stat(mount_dir, &st) || (st.st_mode & 07777) != 0750 || st.st_uid || st.st_gid) fail("%s: %s is %o %u:%u (%m)", who, mount_dir, st.st_mode & 07777, st.st_uid, st.st_gid);
    if (!root_is_nosuid()) fail("%s: / is no longer nosuid", who);
}

/* CAP_SYS_ADMIN over the mount namespace: a tmpfs of its own, mounted and gone again. */
static void use_mounts(void) {
    char dir[96];
    snprintf(dir, sizeof dir, "%s/again", mount_dir);
    if (mkdir(dir, 0700) || mount("swiftcr-again", dir, "tmpfs", 0, "size=16k")) fail("child: a tmpfs in its own mount namespace: %m");
    else if (umount(dir)) fail("child: unmounting its tmpfs: %m");
    /* Its own mount is its to unmount, as before (those it had from outside are locked). */
    if (umount(mount_dir)) fail("child: unmounting the tmpfs it mounted before the checkpoint: %m");
    if (root_nosuid(0) || root_is_nosuid()) fail("child: / made suid again (a flag it set, not one locked): %m");
}

#define MAX_THREADS 4
static int nthreads, wake[2];
static pthread_t thread_ids[MAX_THREADS];
static pid_t thread_tids[MAX_THREADS];

static void *blocked_thread(void *arg) {
    int k = (int)(long)arg;
    leave_term_to_main();
    thread_tids[k] = (pid_t)syscall(SYS_gettid);
    char c;
    while (read(wake[0], &c, 1) < 0 && errno == EINTR) {}
    char now[64] = "", main_ns[64] = "";
    if (readlink("/proc/thread-self/ns/user", now, sizeof now - 1) < 0 || readlink("/proc/self/ns/user", main_ns, sizeof main_ns - 1) < 0
        || strcmp(now, main_ns)) fail("thread %d: user namespace %s, its process's %s", k, now, main_ns);
    if ((pid_t)syscall(SYS_gettid) != thread_tids[k]) fail("thread %d: TID %ld, was %d", k, syscall(SYS_gettid), thread_tids[k]);
    if (getuid() != 0 || geteuid() != 0) fail("thread %d: uid %d, not root inside", k, getuid());
    return NULL;
}

static int make_threads(void) {
    nthreads = 1 + (int)(seed_mix(seed * 5) % MAX_THREADS);
    if (pipe(wake)) return -1;
    for (int k = 0; k < nthreads; k++) if (pthread_create(&thread_ids[k], NULL, blocked_thread, (void *)(long)k)) return -1;
    for (int k = 0; k < nthreads; k++) while (!__atomic_load_n(&thread_tids[k], __ATOMIC_SEQ_CST)) usleep(1000);
    return 0;
}

static void check_threads(void) {
    for (int k = 0; k < nthreads; k++) if (write(wake[1], "W", 1) != 1) fail("waking the threads: %m");
    for (int k = 0; k < nthreads; k++) pthread_join(thread_ids[k], NULL);
}

static char uid_map[256], gid_map[256], setgroups_text[16], caps[3][64], file[64];

static void read_file(const char *path, char *out, size_t size) {
    out[0] = 0;
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, out, size - 1);
    if (fd >= 0) close(fd);
    out[n > 0 ? n : 0] = 0;
}

/* One "CapXxx:\t..." line of /proc/self/status. */
static void status_line(const char *key, char *out, size_t size) {
    char line[256];
    out[0] = 0;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f)) if (!strncmp(line, key, strlen(key))) { snprintf(out, size, "%s", line); break; }
    if (f) fclose(f);
}

static void remember(void) {
    read_file("/proc/self/uid_map", uid_map, sizeof uid_map);
    read_file("/proc/self/gid_map", gid_map, sizeof gid_map);
    read_file("/proc/self/setgroups", setgroups_text, sizeof setgroups_text);
    status_line("CapPrm", caps[0], sizeof caps[0]);
    status_line("CapEff", caps[1], sizeof caps[1]);
    status_line("CapBnd", caps[2], sizeof caps[2]);
}

static int owner_inside(void) {
    int fd = open("/proc/self/ns/user", O_RDONLY);
    uid_t owner = (uid_t)-1;
    if (fd < 0 || ioctl(fd, NS_GET_OWNER_UID, &owner)) owner = (uid_t)-1;
    if (fd >= 0) close(fd);
    return (int)owner;
}

/* The checks of a process inside, after the restart. */
static int check_inside(const char *who, int owner, int made_file) {
    char now[256];
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    if (r || e || s || gr || ge || gs) fail("%s: IDs inside %u %u %u / %u %u %u, not root", who, r, e, s, gr, ge, gs);
    read_file("/proc/self/uid_map", now, sizeof now);
    if (strcmp(now, uid_map)) fail("%s: uid_map is '%s', was '%s'", who, now, uid_map);
    read_file("/proc/self/gid_map", now, sizeof now);
    if (strcmp(now, gid_map)) fail("%s: gid_map is '%s', was '%s'", who, now, gid_map);
    read_file("/proc/self/setgroups", now, sizeof now);
    if (strcmp(now, setgroups_text)) fail("%s: setgroups is '%s', was '%s'", who, now, setgroups_text);
    const char *keys[3] = { "CapPrm", "CapEff", "CapBnd" };
    for (int k = 0; k < 3; k++) {
        status_line(keys[k], now, sizeof now);
        if (strcmp(now, caps[k])) fail("%s: %s, was %s", who, strtok(now, "\n"), caps[k]);
    }
    if (owner_inside() != owner) fail("%s: the namespace's owner reads %d inside, was %d", who, owner_inside(), owner);
    int death = 0;
    if (prctl(PR_GET_PDEATHSIG, &death) || death != SIGKILL) fail("%s: parent-death signal %d, was %d", who, death, SIGKILL);
    if (owned) check_owned(who, made_file);
    if (mounts) check_mounts(who);
    if (made_file) {
        struct stat st;
        if (stat(file, &st) || st.st_uid != 0 || st.st_gid != 0) fail("%s: its file is %u:%u inside (%m)", who, st.st_uid, st.st_gid);
        unlink(file);
    }
    /* CAP_SYS_ADMIN over the namespace: one of its own for host names. */
    char name[64];
    snprintf(name, sizeof name, "userns-%u", seed);
    /* (With "owned", use_owned does so in the restored one.) */
    if (!owned && (unshare(CLONE_NEWUTS) || sethostname(name, strlen(name)))) fail("%s: a UTS namespace of its own: %m", who);
    return fixture_failures;
}

int main(int argc, char **argv) {
    seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    owned = argc > 2 && !strcmp(argv[2], "owned");
    mounts = argc > 2 && !strcmp(argv[2], "mounts");
    int threads = argc > 2 && !strcmp(argv[2], "threads");
    root = geteuid() == 0;
    uid_t base = root ? 100000 + (seed % 50) * 70000 : getuid();
    gid_t gbase = root ? 200000 + (seed % 40) * 70000 : getgid();
    unsigned count = root ? 1 + seed % 65536 : 1;
    uid_t owner = root ? base : getuid();
    int deny = root ? (int)(seed / 7 % 2) : 1;
    handle_term();
    mkdir("userns-files", 0777);
    if (chmod("userns-files", 01777)) { printf("FAIL: userns-files: %m\n"); return 1; }
    int up[2], down[2];
    if (pipe(up) || pipe(down)) return 1;
    pid_t child = fork();
    if (child == 0) {
        char c;
        /* The owner is the creator's effective user ID. */
        if (root && setresuid(-1, owner, -1)) { printf("FAIL: owner: %m\n"); _exit(1); }
        if (unshare(CLONE_NEWUSER) || write(up[1], "U", 1) != 1 || read(down[0], &c, 1) != 1) { printf("FAIL: unshare: %m\n"); _exit(1); }
        if (setresgid(0, 0, 0) || setresuid(0, 0, 0)) { printf("FAIL: root inside: %m\n"); _exit(1); }
        /* Dies with its parent (a change of IDs clears it: set after them, and after the restart's too). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* A seeded set of capabilities dropped from the bounding set (never CAP_SYS_ADMIN, 21). */
        for (int cap = 0; cap < 40; cap++) if (cap != 21 && seed_mix(seed + cap) % 4 == 0) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
        if (owned && make_owned()) _exit(1);
        if (mounts && make_mounts()) _exit(1);
        /* In a directory anyone may write: one of root's outside is not this root's to write. */
        snprintf(file, sizeof file, "userns-files/%u.%d", seed, getpid());
        int fd = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0600);
        if (fd < 0) { printf("FAIL: file inside: %m\n"); _exit(1); }
        close(fd);
        remember();
        int gup[2];
        if (pipe(gup)) _exit(1);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (write(gup[1], "G", 1) != 1) _exit(1);
            wait_for_term();
            _exit(check_inside("grandchild", 0, 0) ? 1 : 0);
        }
        if (read(gup[0], &c, 1) != 1) _exit(1);
        /* After the fork: a forked child would have none of them. */
        if (threads && make_threads()) { printf("FAIL: threads: %m\n"); _exit(1); }
        if (write(up[1], &grandchild, sizeof grandchild) != sizeof grandchild) _exit(1);
        wait_for_term();
        int failed = check_inside("child", 0, 1);
        if (threads) check_threads();
        kill(grandchild, SIGTERM);
        int status;
        if (waitpid(grandchild, &status, 0) != grandchild || !WIFEXITED(status) || WEXITSTATUS(status)) { fail("grandchild: status 0x%x", status); failed = 1; }
        if (owned) use_owned();
        if (mounts) use_mounts();
        failed |= fixture_failures;
        _exit(failed);
    }
    char c, path[64], map[128];
    if (read(up[0], &c, 1) != 1) { printf("FAIL: child did not unshare\n"); return 1; }
    snprintf(path, sizeof path, "/proc/%d/setgroups", child);
    if (deny) write_proc_file(path, "deny");
    snprintf(path, sizeof path, "/proc/%d/uid_map", child);
    if (root) snprintf(map, sizeof map, "0 %u %u\n%u %u 1", base, count, 70000 - 1, base + 69999);
    else snprintf(map, sizeof map, "0 %u 1", base);
    write_proc_file(path, map);
    snprintf(path, sizeof path, "/proc/%d/gid_map", child);
    if (root) snprintf(map, sizeof map, "0 %u %u", gbase, 1 + seed % 1000);
    else snprintf(map, sizeof map, "0 %u 1", gbase);
    write_proc_file(path, map);
    pid_t grandchild;
    if (write(down[1], "M", 1) != 1 || read(up[0], &grandchild, sizeof grandchild) != sizeof grandchild) { printf("FAIL: child did not get ready\n"); return 1; }
    char ours[64] = "", before[64] = "";
    snprintf(path, sizeof path, "/proc/%d/ns/user", child);
    if (readlink("/proc/self/ns/user", ours, sizeof ours - 1) < 0 || readlink(path, before, sizeof before - 1) < 0) return 1;
    ready();
    wait_for_term();
    /* Outside: the child's IDs are the ones outside, its namespace not ours, its owner ours to see. */
    char now[64] = "", line[256], want[64];
    if (readlink(path, now, sizeof now - 1) < 0 || !strcmp(now, ours)) fail("the child is in our user namespace after the restart (%s)", now);
    char its[64] = "";
    snprintf(path, sizeof path, "/proc/%d/ns/user", grandchild);
    if (readlink(path, its, sizeof its - 1) < 0 || strcmp(now, its)) fail("child and grandchild are in user namespaces %s and %s", now, its);
    snprintf(path, sizeof path, "/proc/%d/status", child);
    snprintf(want, sizeof want, "Uid:\t%u\t%u\t%u", base, base, base);
    FILE *f = fopen(path, "r");
    int seen = 0;
    while (f && fgets(line, sizeof line, f)) if (!strncmp(line, "Uid:", 4)) seen = !strncmp(line, want, strlen(want));
    if (f) fclose(f);
    if (!seen) fail("the child's IDs outside are not %u", base);
    snprintf(path, sizeof path, "/proc/%d/ns/user", child);
    int fd = open(path, O_RDONLY);
    uid_t seen_owner = (uid_t)-1;
    if (fd < 0 || ioctl(fd, NS_GET_OWNER_UID, &seen_owner) || seen_owner != owner) fail("the namespace's owner is %d outside, was %u", (int)seen_owner, owner);
    if (fd >= 0) close(fd);
    /* Its tmpfs is its own namespace's: our directory under it is empty. */
    snprintf(path, sizeof path, "userns-files/mnt-%u/data", seed);
    if (mounts && !access(path, F_OK)) fail("the child's tmpfs shows in our mount namespace");
    kill(child, SIGTERM);
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status)) fail("child: status 0x%x", status);
    snprintf(path, sizeof path, "userns-files/mnt-%u", seed);
    if (mounts) rmdir(path);
    return finish();
}
