/* Netlink sockets (zdtm sk-netlink): a route socket bound by the kernel
 * (autobind) to a port, in group RTNLGRP_LINK through bind and in group 33
 * (past the first 32) through NETLINK_ADD_MEMBERSHIP; as root also a
 * uevent socket bound to a port of ours and one connected to it. After
 * restart they have the same ports and groups, the route socket answers a
 * link dump, and what the connected one sends reaches the bound one.
 * Usage: netlink */
#include "fixture.h"
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#ifndef NETLINK_LIST_MEMBERSHIPS
#define NETLINK_LIST_MEMBERSHIPS 9
#endif

static unsigned port_of(int fd) {
    struct sockaddr_nl a;
    socklen_t l = sizeof a;
    return getsockname(fd, (struct sockaddr *)&a, &l) == 0 ? a.nl_pid : 0;
}

static int member(int fd, unsigned group) {
    unsigned words[8] = { 0 };
    socklen_t l = sizeof words;
    if (getsockopt(fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, words, &l) != 0) return 0;
    return group - 1 < l * 8 && (words[(group - 1) / 32] >> ((group - 1) % 32)) & 1;
}

/* Sends an RTM_GETLINK dump request; true if a reply comes. */
static int link_dump_answers(int fd) {
    struct { struct nlmsghdr h; struct ifinfomsg i; } req = {
        .h = { .nlmsg_len = sizeof req, .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 77 },
        .i = { .ifi_family = AF_UNSPEC },
    };
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) != sizeof req) return 0;
    static char buf[65536];
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (int k = 0; k < 100; k++) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return 0;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != 77) continue;
            if (h->nlmsg_type == NLMSG_DONE) return 1;
            if (h->nlmsg_type == NLMSG_ERROR) return 0;
        }
    }
    return 0;
}

int main(void) {
    int route = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
    unsigned high = 33;
    if (route < 0 || bind(route, (struct sockaddr *)&a, sizeof a) != 0) { fail("route socket: %s", strerror(errno)); return finish(); }
    if (setsockopt(route, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &high, sizeof high) != 0) fail("join group 33: %s", strerror(errno));
    unsigned route_port = port_of(route);

    int bound = -1, connected = -1;
    unsigned chosen = 0x40000000u | (unsigned)getpid();
    if (geteuid() == 0) {
        bound = socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT);
        connected = socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT);
        struct sockaddr_nl b = { .nl_family = AF_NETLINK, .nl_pid = chosen };
        if (bind(bound, (struct sockaddr *)&b, sizeof b) != 0 || connect(connected, (struct sockaddr *)&b, sizeof b) != 0)
            fail("uevent sockets: %s", strerror(errno));
    }

    ready();
    wait_for_term();

    if (port_of(route) != route_port) fail("the route socket's port is %u, not %u", port_of(route), route_port);
    if (!member(route, RTNLGRP_LINK) || !member(route, high)) fail("the route socket left group %s", member(route, RTNLGRP_LINK) ? "33" : "RTNLGRP_LINK");
    if (!link_dump_answers(route)) fail("the route socket gets no answer to a link dump");
    if (bound >= 0) {
        if (port_of(bound) != chosen) fail("the uevent socket's port is %u, not %u", port_of(bound), chosen);
        char msg[16] = "hello", got[16] = { 0 };
        struct timeval tv = { 2, 0 };
        setsockopt(bound, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (send(connected, msg, 6, 0) != 6) fail("send through the connected uevent socket: %s", strerror(errno));
        else if (recv(bound, got, sizeof got, 0) != 6 || strcmp(got, "hello") != 0) fail("the bound uevent socket did not get it");
    }
    return finish();
}
