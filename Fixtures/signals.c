/* Signals: a handler with SA_SIGINFO|SA_RESTART|SA_ONSTACK and a mask, an
 * ignored signal, a blocked pending signal, two queued real-time signals
 * with values, a SIGTRAP with a handler, blocked and pending (the restore's
 * own SIGTRAPs must not take it), and an alternate signal stack. */
#include "fixture.h"

static char altstack[65536];
static volatile int hup_count, rt_count, rt_sum, usr1_on_altstack;

static void on_usr1(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)si; (void)uc;
    stack_t cur;
    sigaltstack(NULL, &cur);
    usr1_on_altstack = (cur.ss_flags & SS_ONSTACK) != 0;
}
static void on_hup(int sig) { (void)sig; hup_count++; }
static volatile int trap_count;
static void on_trap(int sig) { (void)sig; trap_count++; }
static void on_rt(int sig, siginfo_t *si, void *uc) { (void)sig; (void)uc; rt_count++; rt_sum += si->si_value.sival_int; }

int main(void) {
    int rt = SIGRTMIN + 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGUSR2, SIG_IGN);
    signal(SIGHUP, on_hup);
    signal(SIGTRAP, on_trap);
    struct sigaction rsa;
    memset(&rsa, 0, sizeof rsa);
    rsa.sa_sigaction = on_rt;
    rsa.sa_flags = SA_SIGINFO;
    sigaction(rt, &rsa, NULL);
    /* The default action with flags of its own (SIGCHLD: SA_NOCLDSTOP still
     * applies), and one set back to the default after a handler. */
    struct sigaction chld;
    memset(&chld, 0, sizeof chld);
    chld.sa_handler = SIG_DFL;
    chld.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &chld, NULL);
    signal(SIGWINCH, on_hup);
    signal(SIGWINCH, SIG_DFL);
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);

    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, rt);
    sigaddset(&block, SIGTRAP);
    sigprocmask(SIG_BLOCK, &block, NULL);
    raise(SIGHUP);
    raise(SIGTRAP);
    sigqueue(getpid(), rt, (union sigval){ .sival_int = 1000 });
    sigqueue(getpid(), rt, (union sigval){ .sival_int = 234 });

    ready();
    wait_for_term();

    struct sigaction got;
    sigaction(SIGUSR1, NULL, &got);
    if (got.sa_sigaction != on_usr1) fail("SIGUSR1 handler changed");
    if ((got.sa_flags & (SA_SIGINFO | SA_RESTART | SA_ONSTACK)) != (SA_SIGINFO | SA_RESTART | SA_ONSTACK)) fail("SIGUSR1 flags 0x%x", got.sa_flags);
    if (!sigismember(&got.sa_mask, SIGUSR2)) fail("SIGUSR1 mask lost SIGUSR2");
    sigaction(SIGUSR2, NULL, &got);
    if (got.sa_handler != SIG_IGN) fail("SIGUSR2 no longer ignored");
    sigaction(SIGINT, NULL, &got);
    if (got.sa_handler != SIG_DFL) fail("SIGINT not default");
    sigaction(SIGCHLD, NULL, &got);
    if (got.sa_handler != SIG_DFL || !(got.sa_flags & SA_NOCLDSTOP)) fail("SIGCHLD: handler %p, flags 0x%x", (void *)got.sa_handler, got.sa_flags);
    /* Every action the fixture never set is the default, with no flags. */
    for (int sig = 1; sig < SIGRTMIN; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGHUP || sig == SIGCHLD || sig == SIGTERM || sig == SIGTRAP) continue;
        sigaction(sig, NULL, &got);
        if (got.sa_handler != SIG_DFL) fail("signal %d: handler %p after the restart", sig, (void *)got.sa_handler);
        if (sig != SIGWINCH && got.sa_flags != 0) fail("signal %d: flags 0x%x after the restart", sig, got.sa_flags);
    }
    stack_t cur;
    sigaltstack(NULL, &cur);
    if (cur.ss_sp != altstack || cur.ss_size != sizeof altstack || (cur.ss_flags & SS_DISABLE)) fail("sigaltstack");
    sigset_t mask, pending;
    sigprocmask(SIG_BLOCK, NULL, &mask);
    if (!sigismember(&mask, SIGHUP) || !sigismember(&mask, rt) || !sigismember(&mask, SIGTRAP)) fail("blocked mask lost");
    sigaction(SIGTRAP, NULL, &got);
    if (got.sa_handler != on_trap) fail("SIGTRAP handler is %p", (void *)got.sa_handler);
    if (sigismember(&mask, SIGTERM)) fail("SIGTERM blocked");
    sigpending(&pending);
    if (!sigismember(&pending, SIGHUP)) fail("pending SIGHUP lost");
    if (!sigismember(&pending, rt)) fail("pending real-time signal lost");
    if (!sigismember(&pending, SIGTRAP)) fail("pending SIGTRAP lost");
    if (hup_count != 0 || rt_count != 0 || trap_count != 0) fail("blocked signals delivered early");
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    if (hup_count != 1) fail("SIGHUP delivered %d times", hup_count);
    if (trap_count != 1) fail("SIGTRAP delivered %d times", trap_count);
    if (rt_count != 2 || rt_sum != 1234) fail("real-time signals: %d delivered, values sum %d", rt_count, rt_sum);
    raise(SIGUSR1);
    if (!usr1_on_altstack) fail("SIGUSR1 handler did not run on the alternate stack");
    return finish();
}
