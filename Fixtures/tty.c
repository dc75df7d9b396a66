/* A shell job on a terminal: stdio on the terminal and /dev/tty open. After
 * restart under another terminal (cr_restart's), /dev/tty and stdio are that
 * terminal, it is the controlling terminal, and the job is in the
 * foreground. */
#include "fixture.h"
#include <fcntl.h>
#include <sys/ioctl.h>

int main(void) {
    int tty = open("/dev/tty", O_RDWR);
    if (tty < 0) { fail("no controlling terminal to start with: %s", strerror(errno)); return finish(); }
    char before[64];
    snprintf(before, sizeof before, "%s", ttyname(0) ? ttyname(0) : "?");
    ready();
    wait_for_term();
    const char *now = ttyname(0);
    if (!now || !isatty(1) || !isatty(2)) fail("stdio is not a terminal after restart");
    char *t = ttyname(tty);
    if (!t || !now || strcmp(t, now) != 0) fail("/dev/tty is %s, stdin is %s", t ? t : "?", now ? now : "?");
    if (write(tty, "on the tty\n", 11) != 11) fail("write to /dev/tty: %s", strerror(errno));
    int again = open("/dev/tty", O_RDWR);
    if (again < 0) fail("no controlling terminal after restart: %s", strerror(errno));
    pid_t sid = 0;
    if (ioctl(0, TIOCGSID, &sid) != 0 || sid != getsid(0)) fail("the terminal is not this session's controlling terminal");
    if (tcgetpgrp(0) != getpgrp()) fail("not the foreground job (%d vs %d)", tcgetpgrp(0), getpgrp());
    printf("tty before %s, after %s\n", before, now ? now : "?");
    return finish();
}
