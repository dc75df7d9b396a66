/* Starts a zdtm test the way zdtm's ns flavor does, less pivot_root
 * (scripts/zdtm.sh already runs each test in network, IPC, UTS and mount
 * namespaces of its own): the test binary
 * becomes PID 1 of a new PID namespace (ZDTM_NEWNS=2: zdtm's ns_init, which
 * forks the test proper and reaps orphans), told to report through fd 255.
 * Once it reports that the test started, the init's PID goes to PIDFILE.
 * It also gets mount, network, IPC and UTS namespaces of its own, as zdtm's
 * ns_create gives it (ZDTM_OWN_MNTNS=0: no mount namespace; ZDTM_OWN_NETNS=0:
 * network, IPC and UTS stay the runner's), with lo up as zdtm's init sets it.
 * While the test starts, PIDFILE.inprogress holds the init's PID, as zdtm's
 * ns_create writes it: hooks (--post-start) wait for it to move devices in.
 * usage: zdtm-pidns PIDFILE TEST [ARG...] */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s PIDFILE TEST [ARG...]\n", argv[0]); return 2; }
    int status_pipe[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, status_pipe)) { perror("socketpair"); return 1; }
    if (unshare(CLONE_NEWPID)) { perror("unshare(CLONE_NEWPID)"); return 1; }
    /* Made before the fork, so the PID a hook reads already names a process in them. */
    const char *ownNet = getenv("ZDTM_OWN_NETNS");
    if (!(ownNet && strcmp(ownNet, "0") == 0)) {
        if (unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)) { perror("unshare(net, ipc, uts)"); return 1; }
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq lo = { .ifr_name = "lo" };
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &lo) || (lo.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &lo))) { perror("lo up"); return 1; }
        close(s);
    }
    pid_t init = fork();
    if (init < 0) { perror("fork"); return 1; }
    if (init == 0) {
        close(status_pipe[0]);
        /* A mount namespace of its own, as zdtm gives it (what it mounts or
         * unmounts is then its own, and the restart must make that
         * namespace again). ZDTM_OWN_MNTNS=0 leaves it in the runner's. */
        const char *own = getenv("ZDTM_OWN_MNTNS");
        if (!(own && strcmp(own, "0") == 0) && (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))) {
            perror("mount namespace");
            _exit(1);
        }
        setsid();
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        if (dup2(status_pipe[1], 255) < 0) { perror("dup2"); _exit(1); }
        close(status_pipe[1]);
        setenv("ZDTM_NEWNS", "2", 1);
        execv(argv[2], argv + 2);
        perror("exec");
        _exit(1);
    }
    close(status_pipe[1]);
    char inprogress[4096];
    snprintf(inprogress, sizeof inprogress, "%s.inprogress", argv[1]);
    FILE *early = fopen(inprogress, "w");
    if (!early || fprintf(early, "%d", init) < 0 || fclose(early)) { perror(inprogress); return 1; }
    int status = 1;
    if (read(status_pipe[0], &status, sizeof status) != sizeof status || status != 0) {
        fprintf(stderr, "the test did not start (status %d)\n", status);
        unlink(inprogress);
        return 1;
    }
    unlink(inprogress);
    FILE *f = fopen(argv[1], "w");
    if (!f || fprintf(f, "%d", init) < 0 || fclose(f)) { perror(argv[1]); return 1; }
    return 0;
}
