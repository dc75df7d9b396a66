/* Packet sockets (AF_PACKET, CAP_NET_RAW): a seeded set of sockets, each
 * with a random type, protocol, binding to lo, TPACKET version, reserve,
 * auxdata/origdev/loss options, memberships on lo (added once or twice),
 * receive and transmit rings (mapped into memory) and a fanout group.
 * After restart each reads back the same (getsockname, getsockopt, the
 * ring is mapped at its address from the socket), lo is promiscuous or
 * all-multicast exactly until each membership is dropped as often as it
 * was added, and a frame sent on lo reaches a raw socket. Two obsolete
 * SOCK_PACKET sockets (zdtm packet_sock_spkt), one bound to lo by name:
 * getsockname names the same device after restart.
 * Usage: packets SEED (root) */
#include "fixture.h"
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define SOCKETS 4

struct plan {
    int fd, type, protocol, bound, version, reserve, aux, origdev, loss, members, member_type, rx, tx, fanout;
    void *ring;
    size_t ring_size;
};

static int getint(int fd, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    return getsockopt(fd, SOL_PACKET, name, &v, &len) == 0 ? v : -1;
}

/* lo's device flags (IFF_PROMISC, IFF_ALLMULTI); SIOCGIFFLAGS hides those
 * that only memberships set, sysfs shows them. */
static int lo_flags(void) {
    FILE *f = fopen("/sys/class/net/lo/flags", "r");
    int v = -1;
    if (!f || fscanf(f, "%x", &v) != 1) v = -1;
    if (f) fclose(f);
    return v;
}

static int setint(int fd, int name, int v) { return setsockopt(fd, SOL_PACKET, name, &v, sizeof v); }

/* A ring of one 4 KiB block of 4 frames (V1/V2) or a V3 block ring. */
static int set_ring(int fd, int name, int version) {
    struct tpacket_req3 r;
    memset(&r, 0, sizeof r);
    r.tp_block_size = 4096;
    r.tp_block_nr = 1;
    r.tp_frame_size = 1024;
    r.tp_frame_nr = 4;
    if (version == TPACKET_V3) r.tp_retire_blk_tov = 50;
    return setsockopt(fd, SOL_PACKET, name, &r, sizeof r);
}

static int mapped_at(void *addr, int fd) {
    struct stat st;
    fstat(fd, &st);
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long start;
        unsigned long long ino;
        if (sscanf(line, "%lx-%*x %*s %*s %*s %llu", &start, &ino) == 2 && start == (unsigned long)addr && ino == st.st_ino) found = 1;
    }
    if (f) fclose(f);
    return found;
}

int main(int argc, char **argv) {
    if (geteuid() != 0) { fprintf(stderr, "needs root\n"); return 2; }
    unsigned seed = argc > 1 ? (unsigned)atoi(argv[1]) : 1;
    srand(seed);
    int lo = if_nametoindex("lo");
    struct plan p[SOCKETS];
    const int protocols[] = { 0, ETH_P_ALL, ETH_P_IP, ETH_P_ARP };
    for (int k = 0; k < SOCKETS; k++) {
        struct plan *s = &p[k];
        memset(s, 0, sizeof *s);
        s->type = rand() % 2 ? SOCK_RAW : SOCK_DGRAM;
        s->protocol = protocols[rand() % 4];
        s->fd = socket(AF_PACKET, s->type, htons(s->protocol));
        if (s->fd < 0) { perror("socket(AF_PACKET)"); return 2; }
        s->bound = s->protocol != 0 && rand() % 2;
        if (s->bound) {
            struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(s->protocol), .sll_ifindex = lo };
            if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0) fail("bind %d: %s", k, strerror(errno));
        }
        s->version = rand() % 3;  /* TPACKET_V1, V2, V3 */
        s->reserve = rand() % 2 ? 0 : 16 * (1 + rand() % 8);
        s->aux = rand() % 2, s->origdev = rand() % 2, s->loss = rand() % 2;
        if (setint(s->fd, PACKET_VERSION, s->version) || (s->reserve && setint(s->fd, PACKET_RESERVE, s->reserve)) ||
            (s->aux && setint(s->fd, PACKET_AUXDATA, 1)) || (s->origdev && setint(s->fd, PACKET_ORIGDEV, 1)) ||
            (s->loss && setint(s->fd, PACKET_LOSS, 1)))
            fail("options %d: %s", k, strerror(errno));
        s->members = rand() % 3;
        s->member_type = rand() % 2 ? PACKET_MR_PROMISC : PACKET_MR_ALLMULTI;
        for (int m = 0; m < s->members; m++) {
            struct packet_mreq mr = { .mr_ifindex = lo, .mr_type = s->member_type };
            if (setsockopt(s->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) fail("membership %d: %s", k, strerror(errno));
        }
        s->rx = rand() % 2;
        s->tx = s->version != TPACKET_V3 && rand() % 2;  /* V3 has no transmit ring of blocks here */
        if (s->rx && set_ring(s->fd, PACKET_RX_RING, s->version)) fail("rx ring %d: %s", k, strerror(errno));
        if (s->tx && set_ring(s->fd, PACKET_TX_RING, s->version)) fail("tx ring %d: %s", k, strerror(errno));
        if (s->rx || s->tx) {
            s->ring_size = 4096 * (s->rx + s->tx);
            s->ring = mmap(NULL, s->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
            if (s->ring == MAP_FAILED) { fail("mmap ring %d: %s", k, strerror(errno)); s->ring = NULL; }
        }
        /* A fanout group needs a running socket: one with a protocol. */
        if (s->protocol != 0 && rand() % 2) {
            s->fanout = (int)((1000 + seed % 1000 + k) | (PACKET_FANOUT_HASH << 16));
            if (setint(s->fd, PACKET_FANOUT, s->fanout) != 0) fail("fanout %d: %s", k, strerror(errno));
        }
    }
    /* A raw socket on lo that sees every frame, and a frame to send later. */
    int watch = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    struct sockaddr_ll wa = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = lo };
    if (watch < 0 || bind(watch, (struct sockaddr *)&wa, sizeof wa) != 0) fail("watch socket: %s", strerror(errno));
    /* SOCK_PACKET binds by device name, in a plain struct sockaddr. */
    int spkt_bound = socket(AF_PACKET, SOCK_PACKET, htons(ETH_P_ALL)), spkt_free = socket(AF_PACKET, SOCK_PACKET, htons(ETH_P_ALL));
    struct sockaddr by_name = { .sa_family = AF_PACKET };
    strcpy(by_name.sa_data, "lo");
    if (spkt_bound < 0 || spkt_free < 0 || bind(spkt_bound, &by_name, sizeof by_name) != 0) fail("SOCK_PACKET sockets: %s", strerror(errno));
    struct sockaddr_ll before[SOCKETS];
    for (int k = 0; k < SOCKETS; k++) {
        socklen_t len = sizeof before[k];
        getsockname(p[k].fd, (struct sockaddr *)&before[k], &len);
    }

    ready();
    wait_for_term();

    for (int k = 0; k < SOCKETS; k++) {
        struct plan *s = &p[k];
        struct sockaddr_ll a;
        socklen_t len = sizeof a;
        if (getsockname(s->fd, (struct sockaddr *)&a, &len) != 0) { fail("socket %d is gone: %s", k, strerror(errno)); continue; }
        if (a.sll_protocol != before[k].sll_protocol || a.sll_ifindex != before[k].sll_ifindex)
            fail("socket %d: protocol %x interface %d, was %x %d", k, a.sll_protocol, a.sll_ifindex, before[k].sll_protocol, before[k].sll_ifindex);
        int type = 0;
        len = sizeof type;
        getsockopt(s->fd, SOL_SOCKET, SO_TYPE, &type, &len);
        if (type != s->type) fail("socket %d: type %d, want %d", k, type, s->type);
        if (getint(s->fd, PACKET_VERSION) != s->version) fail("socket %d: version %d, want %d", k, getint(s->fd, PACKET_VERSION), s->version);
        if (getint(s->fd, PACKET_RESERVE) != s->reserve) fail("socket %d: reserve %d, want %d", k, getint(s->fd, PACKET_RESERVE), s->reserve);
        if (getint(s->fd, PACKET_AUXDATA) != s->aux || getint(s->fd, PACKET_ORIGDEV) != s->origdev || getint(s->fd, PACKET_LOSS) != s->loss)
            fail("socket %d: auxdata/origdev/loss %d/%d/%d, want %d/%d/%d", k, getint(s->fd, PACKET_AUXDATA), getint(s->fd, PACKET_ORIGDEV),
                 getint(s->fd, PACKET_LOSS), s->aux, s->origdev, s->loss);
        if (s->fanout && getint(s->fd, PACKET_FANOUT) != s->fanout) fail("socket %d: fanout %x, want %x", k, getint(s->fd, PACKET_FANOUT), s->fanout);
        if (s->ring && !mapped_at(s->ring, s->fd)) fail("socket %d: its ring is not mapped at %p from it", k, s->ring);
    }
    /* Memberships show as lo's PROMISC and ALLMULTI flags, counted by the
     * kernel: set while any is held, clear once each is dropped as often as it was added. */
    int promisc = 0, allmulti = 0;
    for (int k = 0; k < SOCKETS; k++) {
        if (p[k].member_type == PACKET_MR_PROMISC) promisc += p[k].members; else allmulti += p[k].members;
    }
    int flags = lo_flags();
    if (!!(flags & IFF_PROMISC) != !!promisc || !!(flags & IFF_ALLMULTI) != !!allmulti)
        fail("lo flags %x after restart: memberships promisc %d, allmulti %d", flags, promisc, allmulti);
    for (int k = 0; k < SOCKETS; k++) {
        for (int m = 0; m < p[k].members; m++) {
            struct packet_mreq mr = { .mr_ifindex = lo, .mr_type = p[k].member_type };
            if (setsockopt(p[k].fd, SOL_PACKET, PACKET_DROP_MEMBERSHIP, &mr, sizeof mr) != 0) fail("socket %d: drop membership: %s", k, strerror(errno));
        }
    }
    flags = lo_flags();
    if (flags & (IFF_PROMISC | IFF_ALLMULTI)) fail("lo flags %x once every membership was dropped: more were added at restart", flags);
    /* The watcher still sees frames on lo. */
    unsigned char frame[64] = { 0 };
    memset(frame, 0xff, 6);           /* broadcast destination */
    frame[12] = 0x88, frame[13] = 0xb5;  /* a local experimental ethertype */
    memcpy(frame + 14, "swiftcr", 7);
    int out = socket(AF_PACKET, SOCK_RAW, 0);
    struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = lo, .sll_halen = 6 };
    memset(to.sll_addr, 0xff, 6);
    if (out < 0 || sendto(out, frame, sizeof frame, 0, (struct sockaddr *)&to, sizeof to) != sizeof frame) fail("send a frame: %s", strerror(errno));
    int seen = 0;
    for (int i = 0; i < 50 && !seen; i++) {
        unsigned char got[128];
        ssize_t n = recv(watch, got, sizeof got, MSG_DONTWAIT);
        if (n >= 21 && memcmp(got + 14, "swiftcr", 7) == 0) seen = 1;
        else if (n < 0) usleep(10000);
    }
    if (!seen) fail("the raw socket on lo no longer sees frames");
    const char *want[2] = { "lo", "" };
    int spkt[2] = { spkt_bound, spkt_free };
    for (int k = 0; k < 2; k++) {
        struct sockaddr a = { 0 };
        socklen_t len = sizeof a;
        if (getsockname(spkt[k], &a, &len) != 0 || a.sa_family != AF_PACKET || strcmp(a.sa_data, want[k]) != 0)
            fail("SOCK_PACKET socket %d is bound to '%.14s', not '%s'", k, a.sa_data, want[k]);
    }
    return finish();
}
