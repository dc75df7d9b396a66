/* TUN/TAP devices in a network namespace of the process's own, as a VPN
 * client or slirp4netns holds them. Seeded: 2-4 devices, each TUN or TAP,
 * with or without packet information, some multi-queue (two queues, the
 * second detached), some persistent, some also held by no descriptor at all,
 * each with its own MTU, up or down, a TAP with its own Ethernet address;
 * plus a /dev/net/tun opened and never attached. After the restart every
 * descriptor must name its device with the same flags, a detached queue
 * must still be detached (and attach), the devices must have their index,
 * MTU, address and up flag, an unattached file must still attach, a
 * persistent device must outlive its files and one that was not must go
 * with its last file; and the namespace must hold nothing else.
 * usage: tundevices SEED   (as a user, inside a user namespace of its own) */
#include "fixture.h"
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define MAX_DEVICES 4

struct device {
    char name[IFNAMSIZ];
    int flags;          /* TUNSETIFF flags */
    int persist, held;  /* held: some descriptor has it */
    int fds[2], queues; /* queue 1 is detached */
    int mtu, up, owner;
    unsigned index;
    unsigned char mac[6];
};

static struct device devices[MAX_DEVICES];
static int count;

static int attach(int fd, const char *name, int flags) {
    struct ifreq r = { .ifr_flags = flags };
    snprintf(r.ifr_name, sizeof r.ifr_name, "%s", name);
    return ioctl(fd, TUNSETIFF, &r);
}

static int device_ioctl(int s, const char *name, unsigned long request, struct ifreq *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->ifr_name, sizeof r->ifr_name, "%s", name);
    return ioctl(s, request, r);
}

/* A device's packet-information flag and owner as rtnetlink tells them
 * (TUNGETIFF cannot: its IFF_NOFILTER is IFF_NO_PI's bit). */
static int tun_info(unsigned index, int *pi, int *owner) {
    struct { struct nlmsghdr h; struct ifinfomsg i; } q = {
        .h = { .nlmsg_len = sizeof q, .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST },
        .i = { .ifi_index = (int)index },
    };
    int nl = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE);
    static char answer[16384];
    int n = nl < 0 || send(nl, &q, sizeof q, 0) != sizeof q ? -1 : (int)recv(nl, answer, sizeof answer, 0);
    close(nl);
    struct nlmsghdr *h = (struct nlmsghdr *)answer;
    if (n < (int)sizeof *h || h->nlmsg_type != RTM_NEWLINK) return -1;
    *pi = -1;
    *owner = -1;
    int left = IFLA_PAYLOAD(h);
    for (struct rtattr *a = IFLA_RTA(NLMSG_DATA(h)); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
        if ((a->rta_type & NLA_TYPE_MASK) != IFLA_LINKINFO) continue;
        int l2 = RTA_PAYLOAD(a);
        for (struct rtattr *b = RTA_DATA(a); RTA_OK(b, l2); b = RTA_NEXT(b, l2)) {
            if ((b->rta_type & NLA_TYPE_MASK) != IFLA_INFO_DATA) continue;
            int l3 = RTA_PAYLOAD(b);
            for (struct rtattr *c = RTA_DATA(b); RTA_OK(c, l3); c = RTA_NEXT(c, l3)) {
                if (c->rta_type == IFLA_TUN_PI) *pi = *(unsigned char *)RTA_DATA(c);
                if (c->rta_type == IFLA_TUN_OWNER) *owner = (int)*(unsigned *)RTA_DATA(c);
            }
        }
    }
    return 0;
}

/* The fd's device and flags as TUNGETIFF gives them (IFF_NO_PI aside: see tun_info). */
static void check_fd(struct device *d, int q) {
    struct ifreq r = { 0 };
    if (ioctl(d->fds[q], TUNGETIFF, &r)) { fail("%s queue %d: TUNGETIFF: %m", d->name, q); return; }
    if (strcmp(r.ifr_name, d->name)) fail("%s queue %d: attached to \"%s\"", d->name, q, r.ifr_name);
    int want = d->flags | (d->persist ? IFF_PERSIST : 0) | (q == 1 ? IFF_DETACH_QUEUE : 0);
    int mask = IFF_TUN | IFF_TAP | IFF_MULTI_QUEUE | IFF_PERSIST | IFF_DETACH_QUEUE;
    want &= mask;
    if ((r.ifr_flags & mask) != want) fail("%s queue %d: flags 0x%x, want 0x%x", d->name, q, r.ifr_flags & mask, want);
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    unsigned long long rnd = seed_mix(seed);
    handle_term();
    if (unshare_as_self(CLONE_NEWNET)) return 1;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    count = 2 + (int)(rnd % 3);
    for (int i = 0; i < count; i++) {
        struct device *d = &devices[i];
        rnd = seed_mix(rnd + i);
        snprintf(d->name, sizeof d->name, "swt%u%c%u", seed % 1000, (rnd & 1) ? 'p' : 'n', (unsigned)i % 10);
        d->flags = ((rnd >> 1) & 1 ? IFF_TAP : IFF_TUN) | ((rnd >> 2) & 1 ? IFF_NO_PI : 0) | ((rnd >> 3) & 1 ? IFF_MULTI_QUEUE : 0);
        d->persist = (rnd >> 4) & 1;
        d->held = !d->persist || (rnd >> 5) & 1;  /* a device no file holds must be persistent */
        d->queues = d->flags & IFF_MULTI_QUEUE ? 2 : 1;
        d->mtu = 576 + (int)((rnd >> 8) % 8000);
        d->up = (rnd >> 6) & 1;
        for (int k = 0; k < 6; k++) d->mac[k] = (unsigned char)(rnd >> (16 + 5 * k));
        d->mac[0] = (d->mac[0] & 0xfe) | 0x02;  /* unicast, locally administered */
        d->fds[0] = d->fds[1] = -1;
        for (int q = 0; q < d->queues; q++) {
            d->fds[q] = open("/dev/net/tun", O_RDWR | ((rnd >> 7) & 1 ? O_NONBLOCK : 0));
            if (d->fds[q] < 0 || attach(d->fds[q], d->name, d->flags)) { printf("FAIL: making %s: %m\n", d->name); return 1; }
        }
        if (d->queues == 2 && ioctl(d->fds[1], TUNSETQUEUE, &(struct ifreq){ .ifr_flags = IFF_DETACH_QUEUE })) { printf("FAIL: detaching a queue of %s: %m\n", d->name); return 1; }
        d->owner = (rnd >> 14) & 1 ? (int)getuid() : -1;
        if (d->owner >= 0 && ioctl(d->fds[0], TUNSETOWNER, (unsigned long)d->owner)) { printf("FAIL: owner of %s: %m\n", d->name); return 1; }
        if (d->persist && ioctl(d->fds[0], TUNSETPERSIST, 1)) { printf("FAIL: %s persistent: %m\n", d->name); return 1; }
        struct ifreq r;
        if ((d->flags & IFF_TAP)) {
            device_ioctl(s, d->name, 0, &r);
            r.ifr_hwaddr.sa_family = 1;  /* ARPHRD_ETHER */
            memcpy(r.ifr_hwaddr.sa_data, d->mac, 6);
            if (ioctl(d->fds[0], SIOCSIFHWADDR, &r)) { printf("FAIL: address of %s: %m\n", d->name); return 1; }
        }
        device_ioctl(s, d->name, 0, &r);
        r.ifr_mtu = d->mtu;
        if (ioctl(s, SIOCSIFMTU, &r)) { printf("FAIL: MTU %d of %s: %m\n", d->mtu, d->name); return 1; }
        if (d->up) {
            device_ioctl(s, d->name, SIOCGIFFLAGS, &r);
            r.ifr_flags |= IFF_UP;
            if (ioctl(s, SIOCSIFFLAGS, &r)) { printf("FAIL: %s up: %m\n", d->name); return 1; }
        }
        d->index = if_nametoindex(d->name);
        if (!d->held) { for (int q = 0; q < d->queues; q++) close(d->fds[q]); d->fds[0] = d->fds[1] = -1; }
    }
    int loose = open("/dev/net/tun", O_RDWR);
    if (loose < 0) { printf("FAIL: /dev/net/tun: %m\n"); return 1; }
    ready();
    wait_for_term();

    for (int i = 0; i < count; i++) {
        struct device *d = &devices[i];
        struct ifreq r;
        if (if_nametoindex(d->name) != d->index) fail("%s: index %u, was %u", d->name, if_nametoindex(d->name), d->index);
        if (device_ioctl(s, d->name, SIOCGIFMTU, &r) || r.ifr_mtu != d->mtu) fail("%s: MTU %d, was %d (%m)", d->name, r.ifr_mtu, d->mtu);
        if (device_ioctl(s, d->name, SIOCGIFFLAGS, &r) || !!(r.ifr_flags & IFF_UP) != d->up) fail("%s: up %d, was %d", d->name, !!(r.ifr_flags & IFF_UP), d->up);
        if ((d->flags & IFF_TAP) && (device_ioctl(s, d->name, SIOCGIFHWADDR, &r) || memcmp(r.ifr_hwaddr.sa_data, d->mac, 6)))
            fail("%s: another Ethernet address (%02x:%02x...)", d->name, (unsigned char)r.ifr_hwaddr.sa_data[0], (unsigned char)r.ifr_hwaddr.sa_data[1]);
        int pi, owner;
        if (tun_info(if_nametoindex(d->name), &pi, &owner)) fail("%s: rtnetlink: %m", d->name);
        else if (pi != !(d->flags & IFF_NO_PI) || owner != d->owner) fail("%s: packet information %d, owner %d; was %d, %d", d->name, pi, owner, !(d->flags & IFF_NO_PI), d->owner);
        if (!d->held) continue;
        for (int q = 0; q < d->queues; q++) check_fd(d, q);
        if (d->queues == 2) {
            if (ioctl(d->fds[1], TUNSETQUEUE, &(struct ifreq){ .ifr_flags = IFF_ATTACH_QUEUE })) fail("%s: the detached queue does not attach: %m", d->name);
            if (ioctl(d->fds[0], TUNSETQUEUE, &(struct ifreq){ .ifr_flags = IFF_DETACH_QUEUE })) fail("%s: the first queue does not detach: %m", d->name);
        }
    }
    /* Persistence: a persistent device is there without its files (TUN_EXCL refuses to make it), one that was not is gone. */
    for (int i = 0; i < count; i++) {
        struct device *d = &devices[i];
        for (int q = 0; q < d->queues; q++) if (d->fds[q] >= 0) close(d->fds[q]);
        int present = if_nametoindex(d->name) != 0;
        if (present != d->persist) fail("%s: %s after its files closed", d->name, present ? "still there" : "gone");
        if (d->persist) {
            int fd = open("/dev/net/tun", O_RDWR);
            if (attach(fd, d->name, d->flags | IFF_TUN_EXCL) == 0 || errno != EBUSY) fail("%s: TUN_EXCL did not find it busy: %m", d->name);
            close(fd);
        }
    }
    struct ifreq r = { 0 };
    if (ioctl(loose, TUNGETIFF, &r) == 0 || errno != EBADFD) fail("the unattached file: TUNGETIFF gave \"%s\" (%m)", r.ifr_name);
    if (attach(loose, "swtloose", IFF_TAP | IFF_NO_PI)) fail("the unattached file does not attach: %m");
    struct if_nameindex *names = if_nameindex();
    for (struct if_nameindex *n = names; n && n->if_name; n++) {
        int ours = !strcmp(n->if_name, "lo") || !strcmp(n->if_name, "swtloose");
        for (int i = 0; i < count; i++) ours |= !strcmp(n->if_name, devices[i].name);
        if (!ours) fail("interface %s inside", n->if_name);
    }
    if (names) if_freenameindex(names);
    return finish();
}
