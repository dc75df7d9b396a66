/* A POSIX named semaphore (sem_open) shared by its creator and a child that
 * opened it by name after an exec, as Python's multiprocessing workers do
 * (forkserver, spawn). glibc makes it under a temporary name, maps it, links
 * it to its name and unlinks the first: the creator's mapping shows
 * "/dev/shm/sem.XXXXXX (deleted)" while the file lives on as sem.NAME. It
 * must come back as that file, shared with the child and the name, not as
 * memory of the creator's own (Python's queues then failed "semaphore or
 * lock released too many times"). After the restart the creator posts
 * twice, the child (blocked in sem_wait since before the checkpoint) takes
 * both within 5 s, and the creator's mapping and the file hold the same bytes.
 * usage: namedsem */
#include "fixture.h"
#include <fcntl.h>
#include <semaphore.h>
#include <sys/prctl.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "child") == 0) {
        sem_t *s = sem_open(argv[2], 0);
        if (s == SEM_FAILED) return 3;
        int told = atoi(argv[3]);
        if (write(told, "x", 1) != 1) return 6;  /* opened: the creator goes on */
        close(told);
        for (int k = 0; k < 2; k++)
            while (sem_wait(s) != 0) if (errno != EINTR) return 4;
        return 0;
    }
    char name[64], file[96];
    snprintf(name, sizeof name, "/swiftcr-namedsem-%d", (int)getpid());
    snprintf(file, sizeof file, "/dev/shm/sem.%s", name + 1);
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    if (s == SEM_FAILED) { fail("sem_open: %s", strerror(errno)); return finish(); }
    handle_term();
    int opened[2];
    if (pipe(opened) != 0) { fail("pipe"); return finish(); }
    if (fork() == 0) {
        close(opened[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);  /* a child left waiting dies with us */
        char fd[16];
        snprintf(fd, sizeof fd, "%d", opened[1]);
        execl("/proc/self/exe", argv[0], "child", name, fd, (char *)NULL);
        _exit(5);
    }
    close(opened[1]);
    char c;
    if (read(opened[0], &c, 1) != 1) fail("the child did not open the semaphore");
    close(opened[0]);

    ready();
    wait_for_term();

    sem_post(s);
    sem_post(s);
    int status = -1;
    /* Any child: with new PIDs (--no-restore-pid) its PID is not the one fork gave. */
    for (int i = 0; i < 500 && waitpid(-1, &status, WNOHANG) == 0; i++) usleep(10000);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail("the child did not get the two posts (status 0x%x): the semaphore is not the one it opened by name", status);
    }
    sem_post(s);
    unsigned char mapped[32], stored[32];
    memcpy(mapped, (void *)s, sizeof mapped);
    int fd = open(file, O_RDONLY);
    if (fd < 0 || pread(fd, stored, sizeof stored, 0) != (ssize_t)sizeof stored) fail("%s: %s", file, strerror(errno));
    else if (memcmp(mapped, stored, sizeof mapped) != 0) fail("the semaphore's memory and %s differ", file);
    sem_unlink(name);
    return finish();
}
