/* The vDSO after a restart, above all through a proxy (a kernel whose vDSO
 * is not the image's; SWIFTCR_VDSO_PROXY=1 makes cr_restart take that path
 * on this one): glibc's cached vDSO entry points (clock_gettime, clock_getres,
 * gettimeofday, time, getcpu) must give what the system calls give, the
 * vDSO's ELF headers at AT_SYSINFO_EHDR must stay readable (dl_iterate_phdr,
 * as unwinders read them), and a thread the restart made must call it too.
 * With "proxied", this kernel's [vdso] must lie elsewhere than
 * AT_SYSINFO_EHDR says (the proxy is in between); without, at it.
 * Usage: vdsoproxy [proxied]. Prints PASS. */
#define _GNU_SOURCE
#include "fixture.h"
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/time.h>
#include <time.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

/* glibc's clock_gettime (the vDSO) lies between two system calls' readings
 * (a coarse clock may lag by its tick: 10 ms allowed). */
static void check_clock(clockid_t id, const char *name, long long slack) {
    for (int k = 0; k < 200; k++) {
        struct timespec a, v, b;
        syscall(SYS_clock_gettime, id, &a);
        if (clock_gettime(id, &v) != 0) { fail("%s: clock_gettime: %s", name, strerror(errno)); return; }
        syscall(SYS_clock_gettime, id, &b);
        if (ns(v) < ns(a) - slack || ns(v) > ns(b) + slack) {
            fail("%s: the vDSO gave %lld, the system call %lld then %lld", name, ns(v), ns(a), ns(b));
            return;
        }
    }
    struct timespec r1, r2;
    if (clock_getres(id, &r1) != 0 || syscall(SYS_clock_getres, id, &r2) != 0 || ns(r1) != ns(r2))
        fail("%s: clock_getres gave %lld, the system call %lld", name, ns(r1), ns(r2));
}

static int phdr_seen;
static int look(struct dl_phdr_info *info, size_t size, void *vdso) {
    (void)size;
    /* The vDSO's object: its program headers are read where the image's vDSO was. */
    for (int k = 0; k < info->dlpi_phnum; k++)
        if (info->dlpi_phdr[k].p_type == PT_LOAD && info->dlpi_addr + info->dlpi_phdr[k].p_vaddr == (ElfW(Addr))vdso) phdr_seen = 1;
    return 0;
}

static void check_all(void) {
    check_clock(CLOCK_REALTIME, "CLOCK_REALTIME", 0);
    check_clock(CLOCK_MONOTONIC, "CLOCK_MONOTONIC", 0);
    check_clock(CLOCK_BOOTTIME, "CLOCK_BOOTTIME", 0);
    check_clock(CLOCK_MONOTONIC_RAW, "CLOCK_MONOTONIC_RAW", 0);
    check_clock(CLOCK_REALTIME_COARSE, "CLOCK_REALTIME_COARSE", 10000000);
    check_clock(CLOCK_MONOTONIC_COARSE, "CLOCK_MONOTONIC_COARSE", 10000000);
    struct timeval tv; struct timespec s1, s2;
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &s1);
    gettimeofday(&tv, NULL);
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &s2);
    long long us = tv.tv_sec * 1000000LL + tv.tv_usec;
    if (us < ns(s1) / 1000 || us > ns(s2) / 1000 + 1) fail("gettimeofday gave %lld us, the clock %lld-%lld ns", us, ns(s1), ns(s2));
    time_t t = time(NULL), u = (time_t)syscall(SYS_time, NULL);
    if (t > u || u - t > 1) fail("time gave %ld, the system call %ld", (long)t, (long)u);
    unsigned cpu = 9999, node = 9999;
    if (getcpu(&cpu, &node) != 0 || cpu >= (unsigned)sysconf(_SC_NPROCESSORS_CONF)) fail("getcpu gave cpu %u node %u", cpu, node);
}

static void *thread_main(void *arg) {
    (void)arg;
    leave_term_to_main();
    while (!fixture_stop) usleep(2000);
    check_all();
    return NULL;
}

int main(int argc, char **argv) {
    int proxied = argc > 1 && strcmp(argv[1], "proxied") == 0;
    unsigned long before = getauxval(AT_SYSINFO_EHDR);
    if (!before) { fail("no vDSO"); return finish(); }
    check_all();
    pthread_t th;
    if (pthread_create(&th, NULL, thread_main, NULL) != 0) { fail("pthread_create"); return finish(); }
    ready();
    wait_for_term();
    unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
    if (ehdr != before) fail("AT_SYSINFO_EHDR moved: 0x%lx, was 0x%lx", ehdr, before);
    if (memcmp((void *)ehdr, "\177ELF", 4) != 0) fail("no ELF header at AT_SYSINFO_EHDR 0x%lx", ehdr);
    FILE *maps = fopen("/proc/self/maps", "r");
    unsigned long vdso = 0;
    char line[512];
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, "[vdso]")) vdso = strtoul(line, NULL, 16);
    if (maps) fclose(maps);
    if (proxied && vdso == ehdr) fail("[vdso] is still at 0x%lx: no proxy was made", vdso);
    if (!proxied && vdso != ehdr) fail("[vdso] at 0x%lx, AT_SYSINFO_EHDR 0x%lx", vdso, ehdr);
    check_all();
    dl_iterate_phdr(look, (void *)ehdr);
    if (!phdr_seen) fail("dl_iterate_phdr found no object loaded at the vDSO's 0x%lx", ehdr);
    pthread_join(th, NULL);
    return finish();
}
