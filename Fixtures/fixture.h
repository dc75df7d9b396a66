/* Shared harness for zdtm-style fixtures: set up state, print READY, wait
 * for SIGTERM (the test sends it after restart), check the state, print
 * PASS or FAIL with the reason. */
#ifndef SWIFTCR_FIXTURE_H
#define SWIFTCR_FIXTURE_H
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t fixture_stop;
static int fixture_failures;

static void fixture_on_term(int sig) { (void)sig; fixture_stop = 1; }

static inline void ready(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fixture_on_term;
    sigaction(SIGTERM, &sa, NULL);
    printf("READY %d\n", getpid());
    fflush(stdout);
}

/* Sleeps in pause() until SIGTERM: the checkpoint catches it in a syscall. */
static inline void wait_for_term(void) {
    while (!fixture_stop) pause();
}

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    fixture_failures++;
}

static inline int finish(void) {
    if (fixture_failures == 0) printf("PASS\n");
    fflush(stdout);
    return fixture_failures == 0 ? 0 : 1;
}
#endif
