/* Memory that compresses like a program's heap of records: MIB MiB of
 * seeded text lines ("record N: name=itemK tags=[a,b]"), with a few pages
 * of zeros and a few of seeded noise between them. After SIGTERM every
 * byte is regenerated and compared; the first difference is named.
 * Usage: textmemory [MIB [SEED]] (default 16 MiB, seed 1). */
#include "fixture.h"
#include <stdint.h>
#include <sys/mman.h>

static unsigned long long seed = 1;

/* Fills [0, size) of `out` with the text of `page`: the same bytes each time. */
static void page_text(unsigned char *out, size_t page) {
    unsigned long long x = seed_mix(seed ^ (page * 0x9e3779b97f4a7c15ULL));
    if (x % 17 == 0) { memset(out, 0, 4096); return; }        /* zeros: dropped or squeezed */
    if (x % 23 == 0) {                                          /* noise: does not shrink */
        for (size_t w = 0; w < 512; w++) { x = seed_mix(x); memcpy(out + w * 8, &x, 8); }
        return;
    }
    size_t at = 0;
    unsigned long long n = page * 64;
    while (at < 4096) {
        char line[96];
        int len = snprintf(line, sizeof line, "record %llu: name=item%llu tags=[%llu,%llu]\n",
                           n, seed_mix(n ^ seed) % 100000, n % 7, n % 11);
        size_t take = (size_t)len < 4096 - at ? (size_t)len : 4096 - at;
        memcpy(out + at, line, take);
        at += take;
        n++;
    }
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 16;
    if (argc > 2) seed = strtoull(argv[2], NULL, 10);
    if (mib == 0 || mib > 4096) return 2;
    size_t pages = mib << 8;
    unsigned char *region = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) { perror("mmap"); return 2; }
    for (size_t p = 0; p < pages; p++) page_text(region + p * 4096, p);
    ready();
    wait_for_term();
    unsigned char want[4096];
    for (size_t p = 0; p < pages; p++) {
        page_text(want, p);
        if (memcmp(want, region + p * 4096, 4096) != 0) {
            size_t k = 0;
            while (want[k] == region[p * 4096 + k]) k++;
            fail("page %zu of %zu differs at byte %zu", p, pages, k);
            break;
        }
    }
    return finish();
}
