/* Processes in UTS namespaces of their own (unshare -u, containers): the
 * parent in one with a seeded host and domain name, a child sharing it, a
 * child in another one of its own. After the restart each must have its
 * names, and the sharing child must still share: the parent renames its
 * namespace, the sharer sees the new name, the other child keeps its own.
 * usage: utsns SEED   (as a user, inside a user namespace of its own) */
#include "fixture.h"
#include <sched.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static int names_are(const char *who, const char *host, const char *domain) {
    struct utsname u;
    if (uname(&u)) { fail("%s: uname: %m", who); return 1; }
    if (strcmp(u.nodename, host) || strcmp(u.domainname, domain)) {
        fail("%s: names are %s/%s, not %s/%s", who, u.nodename, u.domainname, host, domain);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    char host[64], domain[64], other[64], after[64];
    snprintf(host, sizeof host, "swcr-%u", seed % 100000);
    snprintf(domain, sizeof domain, "dom%u.example", seed % 977);
    snprintf(other, sizeof other, "swcr-child-%u", seed % 1000);
    snprintf(after, sizeof after, "swcr-renamed-%u", seed % 1000);
    if (unshare_as_self(CLONE_NEWUTS)) return 1;
    if (sethostname(host, strlen(host)) || setdomainname(domain, strlen(domain))) { printf("FAIL: naming: %m\n"); return 1; }
    handle_term();
    pid_t sharer = fork();
    if (sharer == 0) {
        wait_for_term();
        _exit(names_are("sharing child", after, domain));
    }
    int ready_pipe[2];
    if (pipe(ready_pipe)) return 1;
    pid_t own = fork();
    if (own == 0) {
        if (unshare(CLONE_NEWUTS) || sethostname(other, strlen(other))) { printf("FAIL: child's namespace: %m\n"); _exit(1); }
        if (write(ready_pipe[1], "R", 1) != 1) _exit(1);
        wait_for_term();
        _exit(names_are("child with its own", other, domain));
    }
    char c;
    if (read(ready_pipe[0], &c, 1) != 1) { printf("FAIL: child did not get ready\n"); return 1; }
    ready();
    wait_for_term();
    int failed = names_are("parent", host, domain);
    /* Renamed only where the names show the namespace is ours: a restart
     * that left us in the machine's must not rename the machine. */
    if (!failed && sethostname(after, strlen(after))) fail("renaming after the restart: %m");
    for (int k = 0; k < 2; k++) {
        pid_t child = k ? own : sharer;
        kill(child, SIGTERM);
        int status;
        waitpid(child, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) { fail("child %d: status 0x%x", k, status); failed = 1; }
    }
    return finish() | failed;
}
