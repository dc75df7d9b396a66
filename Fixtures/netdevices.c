/* The virtual devices of a container's network namespace, of the process's
 * own: a veth pair inside it, one end a port of a bridge; a macvlan on the
 * other end; a veth pair across to a child's namespace of its own, with a
 * UDP socket bound at the far end; and as root a veth whose other end is in
 * the checkpointer's namespace, a port of a bridge there (a helper child
 * that stays in that namespace makes the bridge and checks it after).
 * Seeded: indexes, MTUs, Ethernet addresses, the macvlan's mode, whether it
 * is up, IPv4 addresses and a link-local IPv6 address a program added.
 * After the restart `ip -o link` and `ip -o addr` must print what they
 * printed before in both namespaces (state words and timers aside: they
 * change by themselves), a datagram must cross the pair to the child's
 * socket, and the outside end must be back in its bridge and up.
 * usage: netdevices SEED   (as a user, inside a user namespace of its own) */
#include "netfixture.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* `ip -o link` and `ip -o addr` of this namespace, less what changes by itself. */
static int snapshot(char *out, size_t room) {
    return capture("{ ip -o link; ip -o addr; } 2>&1 | sed -E -e 's/ state [A-Z]+//' -e 's/ link-netnsid [0-9]+//'"
                    " -e 's/ *valid_lft.*//' -e 's/ (tentative|dadfailed)//g' -e 's/ qdisc [a-z_]+//' | sort", out, room);
}

/* A snapshot after the restart equal to `was`. Carrier (NO-CARRIER) is the
   kernel's to derive: a veth's comes through linkwatch up to a second after
   both ends are up, and a bridge's follows its ports, so a few seconds are given. */
static int settled_snapshot(const char *was, char *out, size_t room) {
    for (int k = 0; k < 40; k++) {
        if (snapshot(out, room)) return 1;
        if (!strcmp(was, out)) return 0;
        usleep(100000);
    }
    return 0;
}

static void mac(char *out, unsigned long long r) {
    snprintf(out, 18, "02:%02x:%02x:%02x:%02x:%02x", (unsigned)(r & 0xff), (unsigned)(r >> 8 & 0xff), (unsigned)(r >> 16 & 0xff),
             (unsigned)(r >> 24 & 0xff), (unsigned)(r >> 32 & 0xff));
}

static char before[16384], after[16384];

/* The child in a namespace of its own: its end of the pair, a socket at its address. */
static int far_end(int ready_fd, int go_fd, const char *address, unsigned port, const char *device) {
    if (unshare(CLONE_NEWNET)) { printf("FAIL: child unshare: %m\n"); return 1; }
    char c = 1;
    if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1) return 1;
    if (run("ip link set lo up && ip addr add %s/30 dev %s && ip link set %s up", address, device, device)) return 1;
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, address, &at.sin_addr);
    if (bind(u, (struct sockaddr *)&at, sizeof at)) { printf("FAIL: child bind %s: %m\n", address); return 1; }
    if (snapshot(before, sizeof before)) { printf("FAIL: child ip: %s\n", before); return 1; }
    if (write(ready_fd, &c, 1) != 1) return 1;
    wait_for_term();
    if (settled_snapshot(before, after, sizeof after)) fail("child: ip after the restart: %s", after);
    else if (strcmp(before, after)) fail("child's namespace changed:\n--- before\n%s--- after\n%s", before, after);
    struct pollfd p = { .fd = u, .events = POLLIN };
    char got[16] = "";
    if (poll(&p, 1, 5000) != 1 || recv(u, got, sizeof got - 1, 0) != 7 || strcmp(got, "through")) fail("child: no datagram across the veth pair");
    return fixture_failures ? 1 : 0;
}

/* The helper left in the checkpointer's namespace (root): the bridge there. */
static int outside(int ready_fd, int go_fd, const char *end, const char *bridge) {
    char c;
    if (read(go_fd, &c, 1) != 1) return 1;
    int bad = run("ip link add %s type bridge && ip link set %s master %s && ip link set %s up && ip link set %s up", bridge, end, bridge, end, bridge);
    c = bad ? 0 : 1;
    if (write(ready_fd, &c, 1) != 1 || bad) { run("ip link del %s 2>/dev/null", bridge); return 1; }
    wait_for_term();
    char command[160], line[512] = "";
    snprintf(command, sizeof command, "ip -o link show dev %s 2>&1", end);
    FILE *p = popen(command, "r");
    if (!p || !fgets(line, sizeof line, p)) fail("outside end %s: no line from ip", end);
    if (p) pclose(p);
    char master[64];
    snprintf(master, sizeof master, " master %s ", bridge);
    if (!strstr(line, master) || !strstr(line, ",UP")) fail("outside end %s not up in %s after the restart: %s", end, bridge, line);
    run("ip link del %s", bridge);
    return fixture_failures ? 1 : 0;
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    unsigned long long rnd = seed_mix(seed);
    handle_term();
    int root = geteuid() == 0;
    char host_end[IFNAMSIZ], host_bridge[IFNAMSIZ];
    snprintf(host_end, sizeof host_end, "swh%u", seed % 100000);
    snprintf(host_bridge, sizeof host_bridge, "swb%u", seed % 100000);
    int up_pipe[2], down_pipe[2];
    if (pipe(up_pipe) || pipe(down_pipe)) return 1;
    pid_t helper = -1;
    if (root) {
        helper = fork();
        if (helper == 0) _exit(outside(up_pipe[1], down_pipe[0], host_end, host_bridge));
    }
    if (unshare_as_self(CLONE_NEWNET)) return 1;
    if (keep_net_capabilities(0)) { printf("FAIL: ambient CAP_NET_ADMIN: %m\n"); return 1; }
    unsigned a = 1 + rnd % 200, b = 1 + (rnd >> 8) % 250, port = 3000 + (rnd >> 16) % 1000;
    char far[32];
    snprintf(far, sizeof far, "192.168.%u.2", a);
    int child_up[2], child_down[2];
    if (pipe(child_up) || pipe(child_down)) return 1;
    char far_device[IFNAMSIZ];
    snprintf(far_device, sizeof far_device, "xc%u", seed % 1000);
    pid_t child = fork();
    if (child == 0) _exit(far_end(child_up[1], child_down[0], far, port, far_device));
    char c;
    if (read(child_up[0], &c, 1) != 1) { printf("FAIL: the child did not start\n"); return 1; }
    /* Seeded indexes (distinct, above what a new namespace has), MTUs, addresses. */
    unsigned base = 20 + (rnd >> 24) % 40;
    char mac1[18], mac2[18], mac3[18];
    mac(mac1, seed_mix(rnd + 1));
    mac(mac2, seed_mix(rnd + 2));
    mac(mac3, seed_mix(rnd + 3));
    const char *modes[] = { "private", "vepa", "bridge" };
    const char *mode = modes[(rnd >> 32) % 3];
    unsigned mtu = 1280 + (rnd >> 36) % 7000;
    int macvlan_up = (rnd >> 50) & 1;
    if (run("ip link set lo up")
        || run("ip link add va%u index %u mtu %u address %s type veth peer name vb%u index %u address %s", seed % 1000, base, mtu, mac1, seed % 1000, base + 1, mac2)
        || run("ip link add br%u index %u type bridge", seed % 1000, base + 2)
        || run("ip link set va%u master br%u && ip link set va%u up && ip link set vb%u up && ip link set br%u up", seed % 1000, seed % 1000, seed % 1000, seed % 1000, seed % 1000)
        || run("ip addr add 10.%u.%u.1/24 dev br%u && ip addr add fe80:%x::1/64 nodad dev br%u", a, b, seed % 1000, (unsigned)(rnd >> 40) & 0xffff, seed % 1000)
        || run("ip addr add 10.%u.%u.2/24 dev vb%u", a, (b + 1) % 250, seed % 1000)
        || run("ip link add mv%u index %u link vb%u address %s type macvlan mode %s", seed % 1000, base + 3, seed % 1000, mac3, mode)
        || run("ip addr add 10.%u.0.5/16 dev mv%u", (a + 1) % 250, seed % 1000)
        || (macvlan_up && run("ip link set mv%u up", seed % 1000))
        || run("ip link add xp%u index %u type veth peer name xc%u index %u netns %d", seed % 1000, base + 4, seed % 1000, base + 5, child)
        || run("ip addr add 192.168.%u.1/30 dev xp%u && ip link set xp%u up", a, seed % 1000, seed % 1000))
        return 1;
    if (root) {
        if (run("ip link add in%u index %u type veth peer name %s netns %d && ip link set in%u up", seed % 1000, base + 6, host_end, helper, seed % 1000)) return 1;
        c = 1;
        if (write(down_pipe[1], &c, 1) != 1 || read(up_pipe[0], &c, 1) != 1 || c != 1) { printf("FAIL: the outside bridge was not made\n"); return 1; }
    }
    c = 1;
    if (write(child_down[1], &c, 1) != 1 || read(child_up[0], &c, 1) != 1) { printf("FAIL: the child did not bind\n"); return 1; }
    /* IPv6 link-local addresses settle (DAD) before the snapshot. */
    usleep(300000);
    if (snapshot(before, sizeof before)) { printf("FAIL: ip: %s\n", before); return 1; }
    ready();
    wait_for_term();

    if (settled_snapshot(before, after, sizeof after)) fail("ip after the restart: %s", after);
    else if (strcmp(before, after)) fail("the namespace changed:\n--- before\n%s--- after\n%s", before, after);
    int o = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, far, &to.sin_addr);
    /* The first datagram may wait for ARP across the pair; a few are sent. */
    for (int k = 0; k < 3; k++) {
        if (sendto(o, "through", 7, 0, (struct sockaddr *)&to, sizeof to) != 7) fail("sendto %s: %m", far);
        usleep(100000);
    }
    int status = 0;
    kill(child, SIGTERM);
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status)) fail("the child in its own namespace failed (status %d)", status);
    if (root) {
        kill(helper, SIGTERM);
        if (waitpid(helper, &status, 0) != helper || !WIFEXITED(status) || WEXITSTATUS(status)) fail("the helper outside failed (status %d)", status);
    }
    return finish();
}
