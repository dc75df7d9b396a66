/* The firewall of a network namespace of the process's own, as a
 * container's runtime or a program sets it: iptables rules (nf_tables
 * backend) in a chain of its own and a builtin one, with a comment match;
 * an ip6tables rule; an iptables-legacy rule; and a native nftables table
 * with a named set, an anonymous set and counters. Seeded ports, addresses
 * and counts. After the restart what iptables-save, ip6tables-save,
 * iptables-legacy-save and `nft list table` print must be what they printed
 * before (comment lines and counters aside), and the rules must act: a UDP
 * datagram to the dropped port does not arrive while one to another port
 * does, and a TCP connection to the rejected port is refused.
 * usage: netfilter SEED   (as a user, inside a user namespace of its own) */
#include "netfixture.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

static char table[32];

static int snapshot(char *out, size_t room) {
    char command[400];
    snprintf(command, sizeof command, "{ iptables-save; ip6tables-save; iptables-legacy-save; nft list table inet %s; } 2>&1"
             " | grep -v '^#' | sed -E -e 's/\\[[0-9]+:[0-9]+\\]//' -e 's/counter packets [0-9]+ bytes [0-9]+/counter/'", table);
    return capture(command, out, room);
}

static int udp_at(unsigned port) {
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    return bind(u, (struct sockaddr *)&at, sizeof at) ? -1 : u;
}

/* Whether a datagram sent to `port` on lo reaches `u`. */
static int arrives(int u, unsigned port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to);
    close(s);
    struct pollfd p = { .fd = u, .events = POLLIN };
    char c;
    return poll(&p, 1, 300) == 1 && recv(u, &c, 1, 0) == 1;
}

static char before[32768], after[32768];

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    unsigned long long rnd = seed_mix(seed);
    handle_term();
    if (unshare_as_self(CLONE_NEWNET)) return 1;
    if (keep_net_capabilities(1)) { printf("FAIL: ambient capabilities: %m\n"); return 1; }
    /* A user may not open /run/xtables.lock. */
    char lock[64];
    snprintf(lock, sizeof lock, "/tmp/swiftcr-netfilter-%u.lock", getuid());
    if (geteuid() != 0) setenv("XTABLES_LOCKFILE", lock, 1);
    unsigned dropped = 2000 + rnd % 1000, open = 3000 + (rnd >> 10) % 1000, refused = 4000 + (rnd >> 20) % 1000;
    unsigned a = 1 + (rnd >> 30) % 250, b = 1 + (rnd >> 38) % 250, rules = 1 + (rnd >> 46) % 4;
    snprintf(table, sizeof table, "swf%u", seed % 100000);
    if (run("ip link set lo up")
        || run("iptables -N SWF%u && iptables -A INPUT -j SWF%u", seed % 1000, seed % 1000)
        || run("iptables -A SWF%u -p udp --dport %u -m comment --comment 'seed %u' -j DROP", seed % 1000, dropped, seed)
        || run("iptables -A INPUT -p tcp --dport %u -j REJECT --reject-with tcp-reset", refused)
        || run("ip6tables -A INPUT -p udp --dport %u -j DROP", dropped + 1)
        || run("iptables-legacy -A OUTPUT -d 192.0.2.%u -j DROP", a)
        || run("nft add table inet %s && nft add chain inet %s c '{ type filter hook input priority 10; policy accept; }'", table, table)
        || run("nft add set inet %s blocked '{ type ipv4_addr; elements = { 198.51.100.%u, 203.0.113.%u } ; }'", table, a, b)
        || run("nft add rule inet %s c ip saddr @blocked counter drop", table))
        return 1;
    for (unsigned k = 0; k < rules; k++)
        if (run("nft add rule inet %s c udp dport { %u, %u } counter accept", table, 5000 + k, 6000 + k)) return 1;
    int u_dropped = udp_at(dropped), u_open = udp_at(open);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in la = { .sin_family = AF_INET, .sin_port = htons(refused), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (u_dropped < 0 || u_open < 0 || bind(l, (struct sockaddr *)&la, sizeof la) || listen(l, 2)) { printf("FAIL: sockets: %m\n"); return 1; }
    if (arrives(u_dropped, dropped) || !arrives(u_open, open)) { printf("FAIL: the rules do not act before the checkpoint\n"); return 1; }
    if (snapshot(before, sizeof before)) { printf("FAIL: rules: %s\n", before); return 1; }
    ready();
    wait_for_term();

    if (snapshot(after, sizeof after)) fail("rules after the restart: %s", after);
    else if (strcmp(before, after)) fail("the rules changed:\n--- before\n%s--- after\n%s", before, after);
    if (arrives(u_dropped, dropped)) fail("a datagram to dropped port %u arrived", dropped);
    if (!arrives(u_open, open)) fail("a datagram to open port %u did not arrive", open);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&la, sizeof la) == 0 || errno != ECONNREFUSED) fail("a connection to rejected port %u was not refused: %m", refused);
    if (geteuid() != 0) unlink(lock);
    return finish();
}
