/* A session leader restarted with new PIDs and --restore-sid and/or
 * --restore-pgid gets its original session and group IDs all the same, as
 * under BLCR (its pid_restore test: flags RESTORE_SID, RESTORE_PGID); the
 * one not asked for is an ID of its own.
 * Usage: sessionids sid|pgid|both. Prints PASS. */
#include "fixture.h"
#include <sys/syscall.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int wantSID = strcmp(argv[1], "pgid") != 0, wantPGID = strcmp(argv[1], "sid") != 0;
    if (setsid() < 0) { fail("setsid: %s", strerror(errno)); return finish(); }
    pid_t original = getpid();
    ready();
    wait_for_term();
    pid_t now = (pid_t)syscall(SYS_getpid), sid = getsid(0), pgid = getpgrp();
    if (now == original) fail("the process kept its PID %d: this is a --no-restore-pid test", now);
    if ((sid == original) != wantSID) fail("session %d, original %d: %s", sid, original, wantSID ? "want the original" : "want its own");
    if ((pgid == original) != wantPGID) fail("group %d, original %d: %s", pgid, original, wantPGID ? "want the original" : "want its own");
    return finish();
}
