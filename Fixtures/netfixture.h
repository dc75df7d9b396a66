/* What the network fixtures share: running `ip`, iptables and nft, and
 * keeping the capabilities they need across exec as a user. */
#ifndef SWIFTCR_NETFIXTURE_H
#define SWIFTCR_NETFIXTURE_H
#include "fixture.h"
#include <linux/capability.h>
#include <sys/prctl.h>

/* system() of a formatted command; a non-zero status is said as FAIL. */
static int run(const char *fmt, ...) {
    char command[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(command, sizeof command, fmt, ap);
    va_end(ap);
    int status = system(command);
    if (status) printf("FAIL: %s: status %d\n", command, status);
    fflush(stdout);
    return status;
}

/* What `command` prints (at most room - 1 bytes, NUL-ended); -1 if it failed. */
static int capture(const char *command, char *out, size_t room) {
    FILE *p = popen(command, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, room - 1, p);
    out[n] = 0;
    return pclose(p) == 0 ? 0 : -1;
}

/* A user's tools keep CAP_NET_ADMIN (and CAP_NET_RAW if `raw`) of the new
 * user namespace across exec: ambient capabilities (they go at exec otherwise). */
static int keep_net_capabilities(int raw) {
    if (geteuid() == 0) return 0;
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d)) return -1;
    d[0].inheritable |= 1u << CAP_NET_ADMIN | (raw ? 1u << CAP_NET_RAW : 0);
    if (syscall(SYS_capset, &h, d)) return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0)) return -1;
    return raw ? prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0) : 0;
}
#endif
