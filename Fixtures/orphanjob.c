/* A job whose first process ends on SIGTERM without waiting for the rest
 * (as a pipeline's leader may): its child and grandchild wait for SIGTERM
 * themselves, then say so and exit. Sent to cr_restart, SIGTERM reaches
 * the first process, and once it has exited, the rest of the restored tree,
 * so nothing runs on as an orphan. Usage: orphanjob */
#include "fixture.h"
#include <sys/wait.h>

static void member(int n) {
    wait_for_term();
    printf("member %d ended\n", n);
    fflush(stdout);
    _exit(0);
}

int main(void) {
    handle_term();
    if (fork() == 0) {
        if (fork() == 0) member(2);
        member(1);
    }
    usleep(100000);
    ready();
    wait_for_term();
    return finish();  /* PASS, and gone without waiting for the members */
}
