/* A shell pipeline inside the checkpoint: one child's stdout is the other's
 * stdin, and the reader's stdout is a socketpair to the parent. After
 * restart the pipe and the socket still join them, with the bytes they
 * held, instead of becoming cr_restart's stdio (that is for pipes and
 * sockets that lead outside). The children report through exit status. */
#include "fixture.h"
#include <sys/socket.h>
#include <sys/wait.h>

static int writer(int synced) {
    char block[1000];
    memset(block, 'w', sizeof block);
    if (write(1, block, sizeof block) != sizeof block) return 1;
    if (write(synced, "s", 1) != 1) return 1;
    wait_for_term();
    return write(1, "after\n", 6) == 6 ? 0 : 2;
}

static int reader(void) {
    wait_for_term();
    alarm(10);
    char buf[2000];
    size_t got = 0;
    while (got < 1006) {
        ssize_t n = read(0, buf + got, sizeof buf - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (got != 1006 || buf[0] != 'w' || buf[999] != 'w' || memcmp(buf + 1000, "after\n", 6) != 0) return 3;
    return write(1, "read all", 8) == 8 ? 0 : 4;
}

int main(void) {
    handle_term();
    int p[2], sync[2], sv[2];
    if (pipe(p) != 0 || pipe(sync) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) { fail("pipe"); return finish(); }
    pid_t w = fork();
    if (w == 0) { dup2(p[1], 1); close(p[0]); close(p[1]); close(sync[0]); _exit(writer(sync[1])); }
    pid_t r = fork();
    if (r == 0) { dup2(p[0], 0); dup2(sv[1], 1); close(p[0]); close(p[1]); close(sync[0]); close(sync[1]); close(sv[0]); close(sv[1]); _exit(reader()); }
    close(p[0]); close(p[1]); close(sync[1]); close(sv[1]);
    if (write(sv[0], "to the reader", 13) != 13) fail("socket write");  /* waits in the reader's stdout, unread */
    char s;
    if (read(sync[0], &s, 1) != 1) fail("the writer did not start");
    close(sync[0]);
    ready();
    wait_for_term();
    char word[16] = { 0 };
    struct timeval tv = { 10, 0 };
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t have = 0;
    while (have < 8) {
        ssize_t n = recv(sv[0], word + have, 8 - have, 0);
        if (n <= 0) break;
        have += (size_t)n;
    }
    if (have != 8 || strcmp(word, "read all") != 0)
        fail("the reader's stdout socket brought \"%s\", want \"read all\"", word);
    (void)w; (void)r;  /* with --no-restore-pid their PIDs change: wait for any */
    for (int k = 0; k < 2; k++) {
        int st = 0;
        pid_t got;
        do got = waitpid(-1, &st, 0); while (got < 0 && errno == EINTR);
        if (got < 0) fail("waitpid: %s", strerror(errno));
        else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail("a child ended with status 0x%x (exit 3: the reader lost the pipe's bytes or its writer)", st);
    }
    return finish();
}
