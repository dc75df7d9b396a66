/* A batch job's computation with a known answer: STEPS steps of STEP_MS
 * milliseconds each, every step folding its number into a 1 MiB state
 * table (so the answer depends on memory surviving every checkpoint) and
 * into a running hash. Prints progress to stdout as "step N" every 100
 * steps and, at the end, "result HASH". Run with STEP_MS 0 it prints at once
 * the result an uninterrupted run must reach.
 * Usage: batchwork STEPS STEP_MS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WORDS (1u << 18) /* 1 MiB of uint32_t */

static uint32_t state[WORDS];

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: batchwork STEPS STEP_MS\n"); return 2; }
    long steps = atol(argv[1]), stepMs = atol(argv[2]);
    uint64_t hash = 1469598103934665603ull;
    for (uint32_t i = 0; i < WORDS; i++) state[i] = i * 2654435761u;
    struct timespec pause = { stepMs / 1000, (stepMs % 1000) * 1000000L };
    for (long s = 1; s <= steps; s++) {
        /* Touch a spread of the table, in an order that depends on it. */
        uint32_t at = (uint32_t)hash;
        for (int k = 0; k < 64; k++) {
            at = (at * 1103515245u + 12345u + state[at % WORDS]);
            state[at % WORDS] ^= (uint32_t)s * 40503u + (uint32_t)k;
            hash = (hash ^ state[at % WORDS]) * 1099511628211ull;
        }
        if (s % 100 == 0) { printf("step %ld\n", s); fflush(stdout); }
        if (stepMs > 0) nanosleep(&pause, NULL);
    }
    printf("result %016llx\n", (unsigned long long)hash);
    return 0;
}
