/* Processes without their vDSO (unmapped, as on a kernel booted with
 * vdso=0; zdtm vdso02), where the checkpointer finds no syscall instruction
 * to borrow there: one child stopped right after a system call of its own
 * (kill(SIGSTOP)), one spinning in user code. Checkpointed while they run
 * on, then killed and restarted: the stopped child is still stopped and
 * still shown inside its kill call (/proc/PID/syscall: a checkpoint that
 * lets it run on must leave it so), neither has a vDSO, the spinner spins
 * on, and both end as told. (Each child checks its own maps; where /proc
 * is not of the restart's PID namespace, the parent cannot look at the
 * children there and leaves that out.) The children die with the parent.
 * usage: novdso */
#include "fixture.h"
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void unmap(const char *tag) {
    char line[512];
    unsigned long s, e;
    FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, tag) && sscanf(line, "%lx-%lx", &s, &e) == 2) syscall(SYS_munmap, s, e - s);
    if (f) fclose(f);
}
static void unmap_all(void) { unmap("[vdso]"); unmap("[vvar]"); unmap("[vvar_vclock]"); }

static int has_vdso(pid_t pid) {
    char p[64], line[512];
    int found = 0;
    if (pid == getpid()) snprintf(p, sizeof p, "/proc/self/maps"); else snprintf(p, sizeof p, "/proc/%d/maps", pid);
    FILE *f = fopen(p, "r");
    while (f && fgets(line, sizeof line, f)) if (strstr(line, "[vdso]") || strstr(line, "[vvar]")) found = 1;
    if (f) fclose(f);
    return found;
}
static long in_syscall(pid_t pid) {
    char p[64];
    long nr = -2;
    snprintf(p, sizeof p, "/proc/%d/syscall", pid);
    FILE *f = fopen(p, "r");
    if (!f || fscanf(f, "%ld", &nr) != 1) nr = -2;
    if (f) fclose(f);
    return nr;
}
static char state_of(pid_t pid) {
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%d/stat", pid);
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    char *close = strrchr(buf, ')');
    return close && close[1] == ' ' ? close[2] : '?';
}

int main(void) {
    volatile unsigned long *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) { fail("mmap: %m"); return finish(); }
    pid_t stopped = fork();
    if (stopped == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        unmap_all();
        syscall(SYS_kill, getpid(), SIGSTOP);
        syscall(SYS_exit, has_vdso(getpid()) ? 4 : 2);
    }
    pid_t spinner = fork();
    if (spinner == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        unmap_all();
        while (!shared[1]) shared[0]++;
        syscall(SYS_exit, has_vdso(getpid()) ? 5 : 3);
    }
    int status;
    if (waitpid(stopped, &status, WUNTRACED) != stopped || !WIFSTOPPED(status)) { fail("the child did not stop"); return finish(); }
    while (shared[0] < 1000) usleep(1000);
    long before = in_syscall(stopped);
    if (before != SYS_kill) fail("before: the stopped child shows system call %ld, not kill", before);
    if (has_vdso(stopped) || has_vdso(spinner)) fail("before: a child still has its vDSO");
    ready();
    wait_for_term();

    char self[32] = "", me[32];
    snprintf(me, sizeof me, "%d", getpid());
    if (readlink("/proc/self", self, sizeof self - 1) > 0 && strcmp(self, me) == 0) {
        if (state_of(stopped) != 'T') fail("the stopped child is '%c', not stopped", state_of(stopped));
        long after = in_syscall(stopped);
        if (after != before) fail("the stopped child shows system call %ld, was %ld", after, before);
        if (has_vdso(stopped) || has_vdso(spinner)) fail("a child got a vDSO back");
    }
    unsigned long a = shared[0];
    usleep(50000);
    if (shared[0] == a) fail("the spinner does not spin");
    shared[1] = 1;
    kill(stopped, SIGCONT);
    if (waitpid(stopped, &status, 0) != stopped || !WIFEXITED(status) || WEXITSTATUS(status) != 2) fail("the stopped child ended with status %#x", status);
    if (waitpid(spinner, &status, 0) != spinner || !WIFEXITED(status) || WEXITSTATUS(status) != 3) fail("the spinner ended with status %#x", status);
    return finish();
}
