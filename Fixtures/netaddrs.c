/* The addresses and routes of a network namespace of the process's own, as
 * a VPN client or a container's network sets them: a TUN device with a
 * point-to-point IPv4 address, a second IPv4 address with a /24, a unique
 * local IPv6 address; an extra loopback address; routes through the device
 * (a /16, a default route by a gateway with a metric, an IPv6 /48, a
 * default route in another table) and a blackhole route; a UDP socket
 * bound to the device's IPv4 address and a TCP listener on its IPv6 one;
 * raw ICMP sockets as ping makes them (IPv4 with a filter, IPv6 without).
 * Also five settings under /proc/sys/net (forwarding, the first
 * unprivileged port, somaxconn, a UNIX queue limit, the device's reverse
 * path filter). Seeded addresses and values. After the restart `ip addr` and `ip route show table
 * all` must print what they printed before (IPv6 link-local lines aside:
 * the kernel makes those), the UDP socket must take a datagram and the
 * listener a connection at those addresses, and a datagram sent into the
 * routed /16 must come out of the restored TUN descriptor as a packet, and
 * the settings must read as they were set.
 * usage: netaddrs SEED   (as a user, inside a user namespace of its own) */
#include "netfixture.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <linux/filter.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>

static char before[16384];

/* `ip addr` and every table's routes, without link-local lines and what changes by itself. */
static int snapshot(char *out, size_t room) {
    return capture("{ ip -o addr; ip route show table all; ip -6 route show table all; } 2>&1"
                    " | grep -v fe80 | sed -e 's/ *valid_lft.*//' -e 's/ expires [0-9]*sec//' | sort", out, room);
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    unsigned long long rnd = seed_mix(seed);
    handle_term();
    if (unshare_as_self(CLONE_NEWNET)) return 1;
    if (keep_net_capabilities(0)) { printf("FAIL: ambient CAP_NET_ADMIN: %m\n"); return 1; }
    unsigned a = 1 + rnd % 250, b = 1 + (rnd >> 8) % 250, c = (rnd >> 16) & 0xffff;
    char name[IFNAMSIZ];
    snprintf(name, sizeof name, "swc%u", seed % 100000);
    int tun = open("/dev/net/tun", O_RDWR);
    struct ifreq r = { .ifr_flags = IFF_TUN | IFF_NO_PI };
    snprintf(r.ifr_name, sizeof r.ifr_name, "%s", name);
    if (tun < 0 || ioctl(tun, TUNSETIFF, &r)) { printf("FAIL: making %s: %m\n", name); return 1; }
    if (run("ip link set lo up && ip link set %s up", name)
        || run("ip addr add 127.0.%u.%u/8 dev lo", a, b)
        || run("ip addr add 10.%u.%u.1 peer 10.%u.%u.2 dev %s", a, b, a, b, name)
        || run("ip addr add 172.16.%u.1/24 dev %s", a, name)
        || run("ip -6 addr add fd00:%x::1/64 dev %s nodad", c, name)
        || run("ip route add 10.%u.0.0/16 dev %s", (a + 1) % 250, name)
        || run("ip route add default via 172.16.%u.254 dev %s metric %u", a, name, 10 + b)
        || run("ip route add blackhole 192.0.2.%u/32", b)
        || run("ip -6 route add 2001:db8:%x::/48 dev %s metric 7", c, name)
        || run("ip route add default dev %s table %u", name, 100 + a))
        return 1;
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = { .sin_family = AF_INET, .sin_port = htons(4000 + a) };
    char text[64];
    snprintf(text, sizeof text, "10.%u.%u.1", a, b);
    inet_pton(AF_INET, text, &ua.sin_addr);
    if (bind(u, (struct sockaddr *)&ua, sizeof ua)) { printf("FAIL: bind %s: %m\n", text); return 1; }
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 la = { .sin6_family = AF_INET6, .sin6_port = htons(5000 + b) };
    snprintf(text, sizeof text, "fd00:%x::1", c);
    inet_pton(AF_INET6, text, &la.sin6_addr);
    if (bind(l, (struct sockaddr *)&la, sizeof la) || listen(l, 2)) { printf("FAIL: listen at %s: %m\n", text); return 1; }
    /* Settings of the namespace (/proc/sys/net): seeded values, a device's own among them. */
    char settings[5][96], values[5][32];
    snprintf(settings[0], sizeof settings[0], "/proc/sys/net/ipv4/ip_forward");
    snprintf(values[0], sizeof values[0], "1");
    snprintf(settings[1], sizeof settings[1], "/proc/sys/net/ipv4/ip_unprivileged_port_start");
    snprintf(values[1], sizeof values[1], "%u", 100 + c % 900);
    snprintf(settings[2], sizeof settings[2], "/proc/sys/net/core/somaxconn");
    snprintf(values[2], sizeof values[2], "%u", 200 + a);
    snprintf(settings[3], sizeof settings[3], "/proc/sys/net/unix/max_dgram_qlen");
    snprintf(values[3], sizeof values[3], "%u", 20 + b);
    snprintf(settings[4], sizeof settings[4], "/proc/sys/net/ipv4/conf/%s/rp_filter", name);
    snprintf(values[4], sizeof values[4], "%u", 1 + a % 2);
    for (int k = 0; k < 5; k++) {
        FILE *f = fopen(settings[k], "w");
        if (!f || fprintf(f, "%s\n", values[k]) < 0 || fclose(f)) { printf("FAIL: %s: %m\n", settings[k]); return 1; }
    }
    /* Raw ICMP sockets as ping has them (CAP_NET_RAW of the namespace's
     * owner): IPv4 with a classic BPF filter, IPv6 left as made. */
    int raw4 = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), raw6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    struct sock_filter code[] = { BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
                                  BPF_STMT(BPF_RET | BPF_K, 0xffff), BPF_STMT(BPF_RET | BPF_K, 0) };
    struct sock_fprog program = { .len = 4, .filter = code };
    if (raw4 < 0 || raw6 < 0 || setsockopt(raw4, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program)) { printf("FAIL: raw ICMP sockets: %m\n"); return 1; }
    if (snapshot(before, sizeof before)) { printf("FAIL: ip: %s\n", before); return 1; }
    ready();
    wait_for_term();

    static char after[16384];
    if (snapshot(after, sizeof after)) fail("ip after the restart: %s", after);
    else if (strcmp(before, after)) fail("addresses or routes changed:\n--- before\n%s--- after\n%s", before, after);
    for (int k = 0; k < 5; k++) {
        char now[64] = "";
        FILE *f = fopen(settings[k], "r");
        if (!f || !fgets(now, sizeof now, f)) fail("%s: unreadable after the restart: %m", settings[k]);
        else if (strtoul(now, NULL, 10) != strtoul(values[k], NULL, 10)) fail("%s: %s after the restart, was %s", settings[k], strtok(now, "\n"), values[k]);
        if (f) fclose(f);
    }
    socklen_t instructions = 0;
    if (getsockopt(raw4, SOL_SOCKET, SO_ATTACH_FILTER, NULL, &instructions) || instructions != 4) fail("raw ICMP socket: %u filter instructions, was 4", instructions);
    instructions = 0;
    if (getsockopt(raw6, SOL_SOCKET, SO_ATTACH_FILTER, NULL, &instructions) || instructions != 0) fail("raw ICMPv6 socket: %u filter instructions, was none", instructions);
    char d = 'd', got = 0;
    if (sendto(u, &d, 1, 0, (struct sockaddr *)&ua, sizeof ua) != 1 || recv(u, &got, 1, MSG_DONTWAIT) != 1 || got != 'd')
        fail("UDP at the device's address: %m");
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&la, sizeof la)) fail("connect to %s: %m", text);
    else {
        int in = accept(l, NULL, NULL);
        if (in < 0 || write(s, "x", 1) != 1 || read(in, &got, 1) != 1 || got != 'x') fail("no byte through %s", text);
    }
    /* Through the route into the device, out of its descriptor. */
    int o = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in far = { .sin_family = AF_INET, .sin_port = htons(7777) };
    snprintf(text, sizeof text, "10.%u.0.5", (a + 1) % 250);
    inet_pton(AF_INET, text, &far.sin_addr);
    if (sendto(o, "through", 7, 0, (struct sockaddr *)&far, sizeof far) != 7) fail("sendto %s: %m", text);
    int seen = 0;
    unsigned char packet[2048];
    for (int tries = 0; tries < 20 && !seen; tries++) {
        struct pollfd p = { .fd = tun, .events = POLLIN };
        if (poll(&p, 1, 100) != 1) continue;
        ssize_t n = read(tun, packet, sizeof packet);
        /* IPv4, UDP, to that address, the bytes at the end (other packets, IPv6 ones, pass by). */
        seen = n >= 35 && packet[0] >> 4 == 4 && packet[9] == 17 && !memcmp(packet + 16, &far.sin_addr, 4) && !memcmp(packet + n - 7, "through", 7);
    }
    if (!seen) fail("no packet to %s came out of the TUN descriptor", text);
    return finish();
}
