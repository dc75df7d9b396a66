/* A connection with both ends in this process, one of them reset behind
 * the other's back (as a firewall's REJECT would: a forged RST from the
 * server's address, so the client ends while the server still believes it
 * is connected, with the client's bytes unread; zdtm socket-tcp-reseted).
 * The restored server end leaves repair mode with a window probe, which
 * the client's port, with no connection behind it, answers with a reset:
 * that reset must reach it (a lock between checkpoint and restart still in
 * place would drop it). So after the restart the server end reads the
 * client's bytes and its first write fails, as zdtm expects (without a
 * checkpoint the first write would still go out). Root (TCP_REPAIR reads
 * the client's sequence number; a raw socket sends the reset). */
#include "fixture.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#ifndef TCP_REPAIR
#define TCP_REPAIR 19
#define TCP_REPAIR_QUEUE 20
#define TCP_QUEUE_SEQ 21
#endif

static uint16_t checksum(const uint8_t *b, size_t n) {
    uint32_t sum = 0;
    for (size_t k = 0; k + 1 < n; k += 2) sum += (uint32_t)b[k] << 8 | b[k + 1];
    if (n & 1) sum += (uint32_t)b[n - 1] << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* An RST from `from` to `to` at sequence `seq` (the receiver's next expected byte). */
static int send_reset(const struct sockaddr_in *from, const struct sockaddr_in *to, uint32_t seq) {
    uint8_t packet[12 + 20] = { 0 };
    memcpy(packet, &from->sin_addr, 4);
    memcpy(packet + 4, &to->sin_addr, 4);
    packet[9] = IPPROTO_TCP;
    packet[11] = 20;
    uint8_t *h = packet + 12;
    memcpy(h, &from->sin_port, 2);
    memcpy(h + 2, &to->sin_port, 2);
    uint32_t s = htonl(seq);
    memcpy(h + 4, &s, 4);
    h[12] = 5 << 4;
    h[13] = 0x04;  /* RST */
    uint16_t c = htons(checksum(packet, sizeof packet));
    memcpy(h + 16, &c, 2);
    int raw = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
    if (raw < 0) return -1;
    int r = sendto(raw, h, 20, 0, (const struct sockaddr *)to, sizeof *to) == 20 ? 0 : -1;
    close(raw);
    return r;
}

int main(void) {
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in server = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, client;
    socklen_t len = sizeof server;
    if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&server, sizeof server) || listen(l, 1) || getsockname(l, (struct sockaddr *)&server, &len)
        || connect(c, (struct sockaddr *)&server, sizeof server)) {
        fail("connection: %s", strerror(errno));
        return finish();
    }
    int s = accept(l, NULL, NULL);
    len = sizeof client;
    if (s < 0 || getsockname(c, (struct sockaddr *)&client, &len) || write(c, "asd", 3) != 3) { fail("accept: %s", strerror(errno)); return finish(); }
    usleep(50000);
    /* The client's next expected sequence number, read in repair mode (left without a window probe). */
    int on = 1, queue = 1 /* TCP_RECV_QUEUE */, off = -1 /* TCP_REPAIR_OFF_NO_WP */;
    uint32_t seq = 0;
    socklen_t seqLen = sizeof seq;
    if (setsockopt(c, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) || setsockopt(c, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof queue)
        || getsockopt(c, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &seqLen) || setsockopt(c, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off)) {
        fail("reading the client's sequence in repair mode: %s", strerror(errno));
        return finish();
    }
    if (send_reset(&server, &client, seq)) { fail("forged reset: %s", strerror(errno)); return finish(); }
    usleep(50000);
    struct tcp_info info;
    socklen_t infoLen = sizeof info;
    if (getsockopt(c, IPPROTO_TCP, TCP_INFO, &info, &infoLen) || info.tcpi_state != TCP_CLOSE) fail("the client was not reset (state %d)", info.tcpi_state);
    if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &info, &infoLen) || info.tcpi_state != TCP_ESTABLISHED) fail("the server end changed state (%d)", info.tcpi_state);
    signal(SIGPIPE, SIG_IGN);
    ready();
    wait_for_term();
    char buf[8];
    if (read(s, buf, sizeof buf) != 3 || memcmp(buf, "asd", 3)) fail("the server end does not read the client's bytes: %s", strerror(errno));
    if (write(s, "x", 1) != -1) fail("the server end could still write to a reset connection");
    return finish();
}
