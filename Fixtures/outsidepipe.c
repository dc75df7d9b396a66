/* Pipes leading outside the checkpoint (to a child left out with -p): as in
 * BLCR, after restart the read end is cr_restart's stdin and the write end
 * its stdout. The test writes "hello" to cr_restart; the fixture reads it
 * from fd 7 and answers "through fd 8" on fd 8. */
#include "fixture.h"
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>

int main(void) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) { fail("pipe"); return finish(); }
    pid_t helper = fork();
    if (helper == 0) { prctl(PR_SET_PDEATHSIG, SIGKILL); close(in[0]); close(out[1]); pause(); _exit(0); }  /* dies with the checkpointed original */
    close(in[1]);
    close(out[0]);
    dup2(in[0], 7);
    dup2(out[1], 8);
    close(in[0]);
    close(out[1]);
    ready();
    wait_for_term();
    char buf[16] = { 0 };
    ssize_t n = read(7, buf, 6);
    if (n != 6 || memcmp(buf, "hello\n", 6) != 0) fail("fd 7 read %zd bytes \"%s\", want hello from cr_restart's stdin", n, buf);
    if (write(8, "through fd 8\n", 13) != 13) fail("write to fd 8: %s", strerror(errno));
    return finish();
}
