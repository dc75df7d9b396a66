/* A program that checkpoints itself by running cr_checkpoint through
 * system(): system() returns the tool's exit status 0, in the original
 * and, as under BLCR, in the restarted copy (whose wait finds the tool
 * exited with 0 although it is not in the image).
 * Usage: selfcheckpoint CR_CHECKPOINT IMAGE */
#include "fixture.h"

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    char command[8192];
    snprintf(command, sizeof command, "exec %s -p -f %s %d", argv[1], argv[2], getpid());
    int r = system(command);
    printf("system returned %d\n", r);
    if (r != 0) fail("system(\"cr_checkpoint ...\") gave %d (errno %d)", r, errno);
    return finish();
}
