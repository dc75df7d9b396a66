/* SysV IPC in an IPC namespace of the process's own (unshare -i, a
 * container), beside the same keys in the checkpointer's namespace: a child
 * left outside makes a segment, semaphore set and queue with the keys the
 * parent then uses inside its own namespace, with other contents. After the
 * restart each must find its own namespace's objects by key: the segment's
 * bytes (attached, and looked up again), the semaphore values, the queued
 * messages. As root the inner namespace also gets seeded limits (msgmax,
 * msgmnb, sem, shm_rmid_forced, the POSIX queue limits) and a next message
 * queue ID set after its objects were made, which must read the same after.
 * Seeded keys, sizes and values.
 * usage: ipcns SEED   (as a user, inside a user namespace of its own) */
#include "fixture.h"
#include <sched.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

static unsigned seed;
static key_t key;
static size_t size;

struct message { long type; char text[64]; };

/* Makes the three objects, filled by `salt` (which namespace they are in). */
static unsigned char *make(int salt) {
    int shm = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
    unsigned char *at = shm < 0 ? NULL : shmat(shm, NULL, 0);
    if (!at || at == (void *)-1) { printf("FAIL: shm %d: %m\n", salt); return NULL; }
    for (size_t k = 0; k < size; k++) at[k] = (unsigned char)(k * 7 + seed + salt);
    int sem = semget(key, 3, IPC_CREAT | IPC_EXCL | 0600);
    unsigned short values[3] = { (unsigned short)(seed % 100 + salt), (unsigned short)salt, 7 };
    if (sem < 0 || semctl(sem, 0, SETALL, values)) { printf("FAIL: sem %d: %m\n", salt); return NULL; }
    int q = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    for (int k = 0; q >= 0 && k < 1 + (int)(seed % 4); k++) {
        struct message m = { .type = 1 + k };
        int n = snprintf(m.text, sizeof m.text, "ns%d message %d of %u", salt, k, seed);
        if (msgsnd(q, &m, n + 1, 0)) q = -1;
    }
    if (q < 0) { printf("FAIL: queue %d: %m\n", salt); return NULL; }
    return at;
}

/* Checks the objects under `key` hold what `make(salt)` put there. */
static int check(const char *who, unsigned char *at, int salt) {
    int failed = 0;
    int shm = shmget(key, 0, 0);
    unsigned char *again = shm < 0 ? NULL : shmat(shm, NULL, SHM_RDONLY);
    if (!again || again == (void *)-1) { fail("%s: segment of key 0x%x: %m", who, key); return 1; }
    for (size_t k = 0; k < size && !failed; k++) {
        unsigned char want = (unsigned char)(k * 7 + seed + salt);
        if (at[k] != want || again[k] != want) { fail("%s: segment byte %zu is %u/%u, not %u", who, k, at[k], again[k], want); failed = 1; }
    }
    shmdt(again);
    unsigned short values[3] = { 0 };
    int sem = semget(key, 0, 0);
    if (sem < 0 || semctl(sem, 0, GETALL, values) || values[0] != seed % 100 + salt || values[1] != salt || values[2] != 7) {
        fail("%s: semaphores %u %u %u", who, values[0], values[1], values[2]);
        failed = 1;
    }
    int q = msgget(key, 0);
    for (int k = 0; k < 1 + (int)(seed % 4); k++) {
        struct message m;
        char want[64];
        snprintf(want, sizeof want, "ns%d message %d of %u", salt, k, seed);
        if (q < 0 || msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT) < 0 || m.type != 1 + k || strcmp(m.text, want)) {
            fail("%s: message %d is not '%s'", who, k, want);
            failed = 1;
            break;
        }
    }
    return failed;
}

static void remove_all(void) {
    shmctl(shmget(key, 0, 0), IPC_RMID, NULL);
    semctl(semget(key, 0, 0), 0, IPC_RMID);
    msgctl(msgget(key, 0), IPC_RMID, NULL);
}

int main(int argc, char **argv) {
    seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    key = (key_t)(0x5c000000 | (seed * 2654435761u & 0xffffff));
    size = 4096 * (1 + seed % 5) - (seed % 3) * 100;
    handle_term();
    int ready_pipe[2];
    if (pipe(ready_pipe)) return 1;
    pid_t outside = fork();
    if (outside == 0) {
        remove_all();  /* what a run killed before its end left under this key */
        unsigned char *at = make(1);
        if (!at || write(ready_pipe[1], "R", 1) != 1) _exit(1);
        wait_for_term();
        int failed = check("outside child", at, 1);
        remove_all();
        _exit(failed);
    }
    char c;
    if (read(ready_pipe[0], &c, 1) != 1) { printf("FAIL: outside child did not get ready\n"); return 1; }
    if (unshare_as_self(CLONE_NEWIPC)) return 1;
    unsigned char *at = make(2);
    if (!at) return 1;
    /* The namespace's own limits and next ID (a user's mapping may not write them). */
    char settings[7][48], values[7][48];
    int count = geteuid() == 0 ? 7 : 0;
    snprintf(settings[0], 48, "/proc/sys/kernel/msgmax"); snprintf(values[0], 48, "%u", 4096 + seed % 10000);
    snprintf(settings[1], 48, "/proc/sys/kernel/msgmnb"); snprintf(values[1], 48, "%u", 20000 + seed % 50000);
    snprintf(settings[2], 48, "/proc/sys/kernel/sem"); snprintf(values[2], 48, "%u\t%u\t%u\t%u", 200 + seed % 50, 32000, 40 + seed % 60, 100 + seed % 28);
    snprintf(settings[3], 48, "/proc/sys/kernel/shm_rmid_forced"); snprintf(values[3], 48, "%u", seed % 2);
    snprintf(settings[4], 48, "/proc/sys/fs/mqueue/msg_max"); snprintf(values[4], 48, "%u", 20 + seed % 200);
    snprintf(settings[5], 48, "/proc/sys/fs/mqueue/queues_max"); snprintf(values[5], 48, "%u", 100 + seed % 500);
    snprintf(settings[6], 48, "/proc/sys/kernel/msg_next_id"); snprintf(values[6], 48, "%u", 1000 + seed % 30000);
    for (int k = 0; k < count; k++) {
        FILE *f = fopen(settings[k], "w");
        if (!f || fprintf(f, "%s\n", values[k]) < 0 || fclose(f)) { printf("FAIL: %s: %m\n", settings[k]); return 1; }
    }
    ready();
    wait_for_term();
    int failed = check("parent inside", at, 2);
    for (int k = 0; k < count; k++) {
        char now[64] = "";
        FILE *f = fopen(settings[k], "r");
        if (!f || !fgets(now, sizeof now, f)) fail("%s unreadable after the restart: %m", settings[k]);
        else if (strncmp(now, values[k], strlen(values[k])) || now[strlen(values[k])] != '\n') fail("%s reads %s after the restart, was %s", settings[k], strtok(now, "\n"), values[k]);
        if (f) fclose(f);
    }
    kill(outside, SIGTERM);
    int status;
    waitpid(outside, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) { fail("outside child: status 0x%x", status); failed = 1; }
    remove_all();
    return finish() | failed;
}
