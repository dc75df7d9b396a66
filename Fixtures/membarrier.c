/* membarrier(2) registrations, as JIT runtimes and userspace RCU make them:
 * private and global expedited, and the sync-core form where the kernel has
 * it. After restart the commands they allow still work (EPERM if
 * unregistered), and the kernel lists the same registrations. */
#include "fixture.h"
#include <linux/membarrier.h>
#include <sys/syscall.h>

static long mb(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

int main(void) {
    if (mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) { perror("register private expedited"); return 2; }
    int global = mb(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
    int sync_core = mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) == 0;
    long before = mb(1 << 9);  /* MEMBARRIER_CMD_GET_REGISTRATIONS, Linux 6.3+ */
    if (mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) { perror("private expedited"); return 2; }
    ready();
    wait_for_term();
    if (mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) fail("private expedited after restart: %s", strerror(errno));
    if (before >= 0 && mb(1 << 9) != before) fail("registrations 0x%lx after restart, were 0x%lx", mb(1 << 9), before);
    if (global && before < 0) fprintf(stderr, "global expedited cannot be checked on this kernel\n");
    if (sync_core && mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) != 0) fail("sync-core after restart: %s", strerror(errno));
    /* Never registered: must still be refused. */
    if (mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) == 0) fail("rseq form works though it was never registered");
    return finish();
}
