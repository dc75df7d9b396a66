/* A pseudo-terminal held by the tree: its master and slave, bytes waiting
 * both ways, settings, window size and node mode; a child that leads its
 * own session with the terminal as its controlling terminal. After
 * restart the bytes read back the same, the settings and size are kept,
 * and the child still has the terminal (/dev/tty opens, TIOCGSID is its
 * session; its stdin and stdout are on that terminal, as a shell's in a
 * tmux pane, and write to the master). A second terminal's slave, whose master was closed, stays hung
 * up (its node gone): reads see end of file, writes EIO.
 * With INDEXFILE the terminal's index is written there, and the test holds
 * that index while the restart runs: the pair must come back at another
 * index, its slave, the child's stdio and controlling terminal there too
 * (never the other terminal that holds the old name).
 * Usage: ptys [INDEXFILE] */
#include "fixture.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>

static int read_ready(int fd, char *buf, int n) {
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, 2000) != 1) return -1;
    return (int)read(fd, buf, n);
}

int main(int argc, char **argv) {
    handle_term();
    const char *index_file = argc > 1 ? argv[1] : NULL;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) { fail("openpt"); return finish(); }
    char name[64];
    snprintf(name, sizeof name, "%s", ptsname(m));
    int s = open(name, O_RDWR | O_NOCTTY);
    struct termios t;
    tcgetattr(s, &t);
    t.c_cc[VINTR] = 7;  /* something not the default */
    t.c_lflag &= ~ECHO;  /* so the master reads only what the slave wrote */
    tcsetattr(s, TCSANOW, &t);
    struct winsize ws = { 33, 101, 0, 0 };
    ioctl(m, TIOCSWINSZ, &ws);
    fchmod(s, 0620);
    if (index_file) {
        FILE *f = fopen(index_file, "w");
        if (!f || fprintf(f, "%s\n", name + strlen("/dev/pts/")) < 0 || fclose(f) != 0) fail("writing %s", index_file);
    }
    if (write(m, "typed\n", 6) != 6 || write(s, "shown\n", 6) != 6) fail("write");
    usleep(20000);

    int hm = posix_openpt(O_RDWR | O_NOCTTY);
    if (hm < 0 || grantpt(hm) != 0 || unlockpt(hm) != 0) { fail("openpt 2"); return finish(); }
    int hung = open(ptsname(hm), O_RDWR | O_NOCTTY);
    close(hm);  /* hangs up the slave and removes its node */

    int go[2];
    if (pipe(go) != 0) fail("pipe");
    pid_t child = fork();
    if (child == 0) {
        setsid();
        int c = open(name, O_RDWR);  /* a session leader's first terminal becomes its own */
        /* On stdio, as a shell in a tmux pane has it: the tree's own terminal, not the caller's. */
        if (c < 0 || dup2(c, 0) != 0 || dup2(c, 1) != 1) _exit(3);
        char x;
        if (read(go[0], &x, 1) != 1) _exit(2);
        int tty = open("/dev/tty", O_RDWR);
        pid_t sid = 0;
        if (tty < 0 || ioctl(tty, TIOCGSID, &sid) != 0 || sid != getpid()) _exit(1);
        /* The master's name now: its slave's, moved or not. */
        char now[64];
        snprintf(now, sizeof now, "%s", ptsname(m));
        const char *on0 = ttyname(0);
        if (on0 == NULL || strcmp(on0, now) != 0) _exit(4);
        sid = 0;
        if (ioctl(0, TIOCGSID, &sid) != 0 || sid != getpid()) _exit(5);
        _exit(write(1, "pong\n", 5) == 5 ? 0 : 6);
    }

    ready();
    wait_for_term();

    char buf[32] = { 0 };
    if (hung < 0 || read(hung, buf, 1) != 0) fail("the hung-up terminal reads other than end of file");
    errno = 0;
    if (write(hung, "x", 1) != -1 || errno != EIO) fail("the hung-up terminal takes writes (errno %d)", errno);
    if (read_ready(s, buf, sizeof buf) != 6 || memcmp(buf, "typed\n", 6) != 0) fail("the bytes typed in are lost (\"%s\")", buf);
    memset(buf, 0, sizeof buf);
    if (read_ready(m, buf, sizeof buf) != 7 || memcmp(buf, "shown\r\n", 7) != 0) fail("the bytes written out are lost (\"%s\")", buf);
    struct termios u;
    tcgetattr(s, &u);
    if (u.c_cc[VINTR] != 7 || u.c_lflag != t.c_lflag || u.c_iflag != t.c_iflag) fail("the terminal settings changed");
    struct winsize w2 = { 0, 0, 0, 0 };
    ioctl(m, TIOCGWINSZ, &w2);
    if (w2.ws_row != 33 || w2.ws_col != 101) fail("window size %dx%d", w2.ws_row, w2.ws_col);
    const char *now = ptsname(m), *slave_name = ttyname(s);
    if (now == NULL || slave_name == NULL || strcmp(now, slave_name) != 0) fail("the slave %s is not the master's %s", slave_name, now);
    if (index_file && now && strcmp(now, name) == 0) fail("the terminal came back at %s, which another terminal held", name);
    if (!index_file && now && strcmp(now, name) != 0) fail("the terminal moved from %s to %s", name, now);
    struct stat st;
    if (stat(ptsname(m), &st) != 0 || (st.st_mode & 07777) != 0620) fail("slave node mode %o", st.st_mode & 07777);
    if (write(m, "x\n", 2) != 2 || read_ready(s, buf, sizeof buf) != 2) fail("the pair does not carry new bytes");
    int status = 0;
    if (write(go[1], "g", 1) != 1) fail("the child's pipe");
    pid_t any = wait(&status);  /* not waitpid(child): with new PIDs its PID is another */
    if (any <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the child lost its controlling terminal or its stdio on it (status %x)", status);
    memset(buf, 0, sizeof buf);
    if (read_ready(m, buf, sizeof buf) != 6 || memcmp(buf, "pong\r\n", 6) != 0) fail("the child's stdout does not reach the master (\"%s\")", buf);
    return finish();
}
