/* A listening TCP socket without SO_REUSEADDR comes back at its port even
 * though the killed original's connection lingers there in TIME_WAIT (as
 * MPICH's listener does after its job is killed). A forked client connects;
 * we close the connection first and the client then closes its end, which
 * leaves our side in TIME_WAIT on the listener's port (a checkpoint's kill
 * would not: it closes repaired connections silently). After the restart
 * the listener is at the same port and takes a new connection. */
#include "fixture.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

int main(void) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4) || getsockname(l, (struct sockaddr *)&a, &len)) {
        fail("listener: %s", strerror(errno));
        return finish();
    }
    pid_t client = fork();
    if (client == 0) {
        close(l);  /* only the checkpointed process listens */
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a) == 0) {
            char b;
            while (read(c, &b, 1) > 0) {}
        }
        close(c);
        _exit(0);
    }
    int accepted = accept(l, NULL, NULL);
    if (accepted < 0) fail("accept: %s", strerror(errno));
    close(accepted);
    int status;
    waitpid(client, &status, 0);  /* it closed its end: ours is in TIME_WAIT now */
    handle_term();
    ready();
    wait_for_term();
    struct sockaddr_in now;
    socklen_t nowLen = sizeof now;
    int listening = 0;
    socklen_t optLen = sizeof listening;
    if (getsockname(l, (struct sockaddr *)&now, &nowLen) || now.sin_port != a.sin_port) fail("listener not at port %d again", ntohs(a.sin_port));
    if (getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optLen) || !listening) fail("socket not listening after restart");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a)) fail("connect to the restored listener: %s", strerror(errno));
    else if (accept(l, NULL, NULL) < 0) fail("accept after restart: %s", strerror(errno));
    return finish();
}
