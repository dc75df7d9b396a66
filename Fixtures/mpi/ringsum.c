/* An MPI job with a known answer for scripts/mpi-check.sh: STEPS rounds, in
 * each of which every rank passes a value around the ring (MPI_Sendrecv to
 * its right neighbour), folds it into a 256 KiB table of its own, and all
 * ranks agree on a running hash with MPI_Allreduce. Rank 0 prints
 * "step N" every 50 rounds and "result HASH" at the end; STEP_MS of sleep
 * per round makes it last (0: at once, the uninterrupted answer).
 * Usage: mpiexec -n RANKS ringsum STEPS STEP_MS */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WORDS (1u << 16)

static uint32_t table[WORDS];

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 3) {
        if (rank == 0) fprintf(stderr, "usage: ringsum STEPS STEP_MS\n");
        MPI_Finalize();
        return 2;
    }
    long steps = atol(argv[1]), stepMs = atol(argv[2]);
    struct timespec pause = { stepMs / 1000, (stepMs % 1000) * 1000000L };
    for (uint32_t i = 0; i < WORDS; i++) table[i] = (i + 1) * 2654435761u ^ (uint32_t)rank;
    unsigned long long hash = 1469598103934665603ull, mine = (unsigned long long)rank + 1;
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    for (long s = 1; s <= steps; s++) {
        unsigned long long got = 0;
        MPI_Sendrecv(&mine, 1, MPI_UNSIGNED_LONG_LONG, right, 7, &got, 1, MPI_UNSIGNED_LONG_LONG, left, 7,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        uint32_t at = (uint32_t)(got ^ (got >> 32)) % WORDS;
        table[at] = table[at] * 1103515245u + (uint32_t)s;
        mine = (got * 6364136223846793005ull + table[at] + (unsigned long long)s) ^ hash;
        unsigned long long sum = 0;
        MPI_Allreduce(&mine, &sum, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
        hash = (hash ^ sum) * 1099511628211ull;
        if (rank == 0 && s % 50 == 0) { printf("step %ld\n", s); fflush(stdout); }
        if (stepMs > 0) nanosleep(&pause, NULL);
    }
    if (rank == 0) { printf("result %016llx\n", hash); fflush(stdout); }
    MPI_Finalize();
    return 0;
}
