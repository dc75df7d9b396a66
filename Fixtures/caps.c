/* Capabilities come back exactly. As root the process shrinks its sets:
 * drops CAP_SYS_BOOT from the bounding set, CAP_CHOWN from the effective
 * set, CAP_DAC_OVERRIDE from the permitted one, puts CAP_NET_RAW in the
 * inheritable and ambient sets, sets its file-system UID apart, then sets
 * securebits (SECBIT_NOROOT and SECBIT_KEEP_CAPS, both locked, and
 * SECBIT_NO_CAP_AMBIENT_RAISE) and gives up CAP_SETPCAP, which setting them
 * needs. As a user the sets are empty and must stay so. After restart capget, the bounding set, the
 * ambient set, the securebits and the fsuid read back the same.
 * Usage: caps */
#include "fixture.h"
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

struct caps { struct __user_cap_data_struct d[2]; unsigned long long bounding, ambient; };

static void read_caps(struct caps *c) {
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    memset(c, 0, sizeof *c);
    syscall(SYS_capget, &h, c->d);
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) c->bounding |= 1ULL << cap;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1) c->ambient |= 1ULL << cap;
    }
}

int main(void) {
    if (geteuid() == 0) {
        if (prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0) != 0) fail("PR_CAPBSET_DROP");
        struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct d[2];
        syscall(SYS_capget, &h, d);
        d[0].effective &= ~((1u << CAP_CHOWN) | (1u << CAP_DAC_OVERRIDE));
        d[0].permitted &= ~(1u << CAP_DAC_OVERRIDE);
        d[0].inheritable |= 1u << CAP_NET_RAW;
        if (syscall(SYS_capset, &h, d) != 0) fail("capset: %s", strerror(errno));
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0) != 0) fail("ambient: %s", strerror(errno));
        setfsuid(4321);
        if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_KEEP_CAPS | SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0) != 0) fail("securebits: %s", strerror(errno));
        syscall(SYS_capget, &h, d);
        d[0].effective &= ~(1u << CAP_SETPCAP);
        d[0].permitted &= ~(1u << CAP_SETPCAP);
        if (syscall(SYS_capset, &h, d) != 0) fail("capset without CAP_SETPCAP: %s", strerror(errno));
    }
    int secbits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    struct caps before, after;
    read_caps(&before);
    int fsuid = setfsuid(-1);

    ready();
    wait_for_term();

    read_caps(&after);
    for (int k = 0; k < 2; k++) {
        if (before.d[k].effective != after.d[k].effective) fail("effective[%d] %x, want %x", k, after.d[k].effective, before.d[k].effective);
        if (before.d[k].permitted != after.d[k].permitted) fail("permitted[%d] %x, want %x", k, after.d[k].permitted, before.d[k].permitted);
        if (before.d[k].inheritable != after.d[k].inheritable) fail("inheritable[%d] %x, want %x", k, after.d[k].inheritable, before.d[k].inheritable);
    }
    if (before.bounding != after.bounding) fail("bounding set %llx, want %llx", after.bounding, before.bounding);
    if (before.ambient != after.ambient) fail("ambient set %llx, want %llx", after.ambient, before.ambient);
    if (prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) != secbits) fail("securebits 0x%x, want 0x%x", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), secbits);
    if (setfsuid(-1) != fsuid) fail("fsuid %d, want %d", setfsuid(-1), fsuid);
    return finish();
}
