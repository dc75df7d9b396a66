/* Supplementary groups. As root the process sets its own list (1234, 5678,
 * 0); after restart the list is the same. As a user it keeps the groups it
 * was started with, which must still be its groups after restart. */
#include "fixture.h"
#include <grp.h>

static int cmp(const void *a, const void *b) { return (int)(*(const gid_t *)a) - (int)(*(const gid_t *)b); }

int main(void) {
    gid_t want[64];
    int n;
    if (geteuid() == 0) {
        gid_t mine[] = { 1234, 5678, 0 };
        if (setgroups(3, mine) != 0) { perror("setgroups"); return 2; }
    }
    n = getgroups(64, want);
    if (n < 0) { perror("getgroups"); return 2; }
    qsort(want, (size_t)n, sizeof want[0], cmp);
    ready();
    wait_for_term();
    gid_t now[64];
    int m = getgroups(64, now);
    if (m != n) fail("%d supplementary groups, not %d", m, n);
    else {
        qsort(now, (size_t)m, sizeof now[0], cmp);
        for (int i = 0; i < n; i++) if (now[i] != want[i]) fail("group %d is %u, not %u", i, (unsigned)now[i], (unsigned)want[i]);
    }
    return finish();
}
