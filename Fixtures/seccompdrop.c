/* A seccomp filter installed as root without no_new_privs, then root
 * dropped (as a daemon that sandboxes itself before giving up privilege).
 * After restart the filter still judges its calls and it is still the
 * unprivileged user. Root only. */
#include "fixture.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

int main(void) {
    if (geteuid() != 0) { fprintf(stderr, "needs root\n"); return 2; }
    struct sock_filter deny[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getpriority, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 77),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = 4, .filter = deny };
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) { perror("seccomp"); return 2; }
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) { perror("drop"); return 2; }
    ready();
    wait_for_term();
    errno = 0;
    if (getpriority(PRIO_PROCESS, 0) != -1 || errno != 77) fail("the seccomp filter is lost: getpriority errno %d", errno);
    if (getuid() != 65534 || geteuid() != 65534) fail("uid %d/%d, not 65534", getuid(), geteuid());
    return finish();
}
