/* /proc/self/exe names this program again after restart (not cr_restart):
 * tools that re-exec themselves or find their data beside their binary read
 * it. The restorer needs CAP_CHECKPOINT_RESTORE for it: root, or a user's
 * restart in its own namespace. */
#include "fixture.h"
#include <limits.h>

int main(void) {
    char before[PATH_MAX], after[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", before, sizeof before - 1);
    if (n < 0) { perror("readlink"); return 2; }
    before[n] = 0;
    ready();
    wait_for_term();
    n = readlink("/proc/self/exe", after, sizeof after - 1);
    if (n < 0) fail("readlink after restart: %s", strerror(errno));
    else {
        after[n] = 0;
        if (strcmp(before, after) != 0) fail("/proc/self/exe is %s, was %s", after, before);
    }
    return finish();
}
