/* Memory rewritten without pause, so that a checkpoint of it must be one
 * instant: each writer rewrites its pages generation after generation in a
 * seeded order, and before it writes a page it checks that the page holds
 * the previous generation, whole. Restarted from an image whose pages were
 * copied at different times than its registers (or from a page read while
 * being written), a writer meets a page from the wrong generation within
 * two generations and says so. SIGTERM (after the restart): PASS or FAIL.
 * Usage: rewriter SEED single|threads|fork */
#include "fixture.h"
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGE 4096
#define WORDS (PAGE / 8)

struct writer {
    int id;
    uint64_t *pages;
    size_t count;
    size_t *order;
    volatile uint64_t generation;
    char problem[160];
};

static uint64_t seed;
static volatile sig_atomic_t stop_writers;


static uint64_t word(const struct writer *w, size_t page, uint64_t gen, size_t i) {
    return seed_mix(seed ^ ((uint64_t)w->id << 48) ^ ((uint64_t)page << 24) ^ gen) + i * 0x100000001b3ULL;
}

static void put(struct writer *w, size_t page, uint64_t gen) {
    uint64_t *p = w->pages + page * WORDS;
    for (size_t i = 0; i < WORDS; i++) p[i] = word(w, page, gen, i);
}

static int holds(const struct writer *w, size_t page, uint64_t gen) {
    const uint64_t *p = w->pages + page * WORDS;
    for (size_t i = 0; i < WORDS; i++) if (p[i] != word(w, page, gen, i)) return 0;
    return 1;
}

static void setup(struct writer *w, int id, size_t count) {
    w->id = id;
    w->count = count;
    w->pages = mmap(NULL, count * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    w->order = malloc(count * sizeof *w->order);
    if (w->pages == MAP_FAILED || !w->order) { printf("FAIL: no memory\n"); exit(2); }
    for (size_t k = 0; k < count; k++) w->order[k] = k;
    uint64_t rng = seed ^ (uint64_t)id;
    for (size_t k = count - 1; k > 0; k--) {
        rng = seed_mix(rng);
        size_t j = rng % (k + 1), t = w->order[k];
        w->order[k] = w->order[j];
        w->order[j] = t;
    }
    for (size_t k = 0; k < count; k++) put(w, k, 1);
    w->generation = 1;
}

/* Each page goes from generation g-1 to g in the seeded order; then the counter moves. */
static void generation(struct writer *w) {
    uint64_t g = w->generation + 1;
    for (size_t k = 0; k < w->count && !w->problem[0]; k++) {
        size_t page = w->order[k];
        if (!holds(w, page, g - 1)) {
            int newer = holds(w, page, g) || holds(w, page, g + 1);
            snprintf(w->problem, sizeof w->problem, "writer %d: page %zu (%zu of generation %llu) holds %s", w->id, page, k,
                     (unsigned long long)g, newer ? "a later generation" : "bytes of no generation");
        } else {
            put(w, page, g);
        }
    }
    if (!w->problem[0]) w->generation = g;
}

static void *rewrite(void *arg) {
    struct writer *w = arg;
    while (!stop_writers && !w->problem[0]) generation(w);
    return NULL;
}

static int report(struct writer *w, int n, const char *who) {
    int bad = 0;
    for (int k = 0; k < n; k++) {
        if (w[k].problem[0]) { printf("FAIL: %s%s\n", who, w[k].problem); bad = 1; }
        else if (w[k].generation < 3) { printf("FAIL: %swriter %d ran only %llu generations\n", who, w[k].id, (unsigned long long)w[k].generation); bad = 1; }
    }
    fflush(stdout);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: rewriter SEED single|threads|fork\n"); return 2; }
    seed = strtoull(argv[1], NULL, 0);
    const char *mode = argv[2];
    size_t count = 1024 + seed_mix(seed) % 3072;
    struct writer w[2];
    memset(w, 0, sizeof w);
    setup(&w[0], 1, count);
    if (strcmp(mode, "threads") == 0) {
        setup(&w[1], 2, 1024 + seed_mix(seed + 1) % 3072);
        pthread_t t[2];
        leave_term_to_main();
        for (int k = 0; k < 2; k++) pthread_create(&t[k], NULL, rewrite, &w[k]);
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        ready();
        wait_for_term();
        stop_writers = 1;
        for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
        if (report(w, 2, "")) return 1;
        printf("PASS %llu and %llu generations\n", (unsigned long long)w[0].generation, (unsigned long long)w[1].generation);
        return 0;
    }
    handle_term();
    pid_t child = -1;
    if (strcmp(mode, "fork") == 0) {
        /* The child rewrites its copy of the pages (shared copy-on-write until written). */
        child = fork();
        if (child == 0) {
            w[0].id = 3;
            for (size_t k = 0; k < count; k++) put(&w[0], k, 1);
            w[0].generation = 1;
            while (!fixture_stop && !w[0].problem[0]) generation(&w[0]);
            return report(w, 1, "child: ");
        }
    } else if (strcmp(mode, "single") != 0) {
        fprintf(stderr, "rewriter: unknown mode %s\n", mode);
        return 2;
    }
    printf("READY %d\n", getpid());
    fflush(stdout);
    while (!fixture_stop && !w[0].problem[0]) generation(&w[0]);
    int bad = report(w, 1, "");
    if (child > 0) {
        /* The test sends the child SIGTERM too; its PID may have changed in a restart. */
        int status = 0;
        if (waitpid(-1, &status, 0) <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            printf("FAIL: the child did not pass (status 0x%x)\n", status);
            bad = 1;
        }
    }
    if (bad) return 1;
    printf("PASS %llu generations\n", (unsigned long long)w[0].generation);
    return 0;
}
