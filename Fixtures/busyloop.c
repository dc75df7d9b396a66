/* A busy loop in C: state kept in registers and on the stack while the
 * thread computes; after restart the result is recomputed from scratch. */
#include "fixture.h"
#include <stdint.h>

static uint64_t step(uint64_t x) { return x * 6364136223846793005ULL + 1442695040888963407ULL; }

int main(void) {
    uint64_t x = 1, n = 0, sum = 0;
    ready();
    while (!fixture_stop) {
        x = step(x);
        sum += x >> 33;
        n++;
    }
    uint64_t y = 1, s = 0;
    for (uint64_t i = 0; i < n; i++) { y = step(y); s += y >> 33; }
    if (y != x || s != sum) fail("after %lu iterations state differs", (unsigned long)n);
    if (n < 1000) fail("only %lu iterations", (unsigned long)n);
    return finish();
}
