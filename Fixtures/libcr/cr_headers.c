/* BLCR's libcr.h is enough for what BLCR-aware programs use after it
 * (BLCR 0.8.6 include/libcr.h includes <features.h>, <sys/select.h> and
 * <errno.h>; blcr_common.h includes <sys/ioctl.h>), and a hook takes a
 * cr_hook_event_t (libcr.h: typedef void (*cr_hook_fn_t)(cr_hook_event_t)).
 * Built with -Wall -Werror: it does not compile where either is missing. */
#include <libcr.h>

static int uses_errno(void) { return errno == EINTR || errno == EBUSY || errno == ESRCH; }
static long uses_timeval(struct timeval *t) { fd_set s; FD_ZERO(&s); return t->tv_sec + FD_ISSET(0, &s); }
static int uses_ioctl(int fd) { return ioctl(fd, FIONREAD, &(int){0}); }
static void hook(cr_hook_event_t event) { (void)event; }

#include <stdio.h>

int main(void) {
    struct timeval t = { 0, 0 };
    errno = 0;
    (void)uses_errno();
    (void)uses_timeval(&t);
    (void)uses_ioctl(-1);
    cr_hook_fn_t h = hook;
    (void)h;
    printf("PASS\n");
    return 0;
}
