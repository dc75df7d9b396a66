/* SysV IPC: a private segment removed while attached (IPC_RMID), shared
 * with a child; a keyed segment attached read-only; a semaphore set this
 * process operated on; a message queue with two messages; an attachment
 * split by mprotect whose first page was unmapped. The test removes
 * the keyed objects between checkpoint and restart (their IDs are in
 * DIR/ipc-ids), so the restart has to make them again with their contents.
 * Usage: sysvipc DIR [same-ids] */
#include "fixture.h"
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

struct message { long type; char text[16]; };

/* The permissions /proc/self/maps shows for the mapping at `at`, or "" if none starts there. */
static void perms_at(const char *at, char out[5]) {
    char line[512];
    out[0] = 0;
    FILE *m = fopen("/proc/self/maps", "r");
    while (m && fgets(line, sizeof line, m)) {
        unsigned long start;
        char p[5];
        if (sscanf(line, "%lx-%*x %4s", &start, p) == 2 && start == (unsigned long)at) { memcpy(out, p, 5); break; }
    }
    if (m) fclose(m);
}

static void check_parts(char *whole) {
    char p[5];
    if (msync(whole, 4096, MS_ASYNC) != -1 || errno != ENOMEM) fail("parts: the page unmapped before the checkpoint is mapped again");
    for (int pg = 1; pg < 5; pg++)
        for (int i = 0; i < 4096; i += 512) if (whole[pg * 4096 + i] != 'a' + pg) { fail("parts: page %d holds %c", pg, whole[pg * 4096 + i]); return; }
    perms_at(whole + 2 * 4096, p);
    if (strcmp(p, "r--s") != 0) fail("parts: the read-only page is %s", p);
    perms_at(whole + 3 * 4096, p);
    if (strcmp(p, "rw-s") != 0) fail("parts: the page after it is %s", p);
    /* shmdt at the attach address finds every part by its offset. */
    if (shmdt(whole) != 0) fail("parts: shmdt: %s", strerror(errno));
    else if (msync(whole + 4096, 4 * 4096, MS_ASYNC) != -1) fail("parts: shmdt left some of the attachment");
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int same_ids = argc > 2 && strcmp(argv[2], "same-ids") == 0;
    key_t base = (key_t)(0x5c000000 | ((getpid() & 0xfff) << 4));
    size_t size = 3 * 4096;
    int priv = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
    int keyed = shmget(base + 1, 8192, IPC_CREAT | IPC_EXCL | 0640);
    int sem = semget(base + 2, 3, IPC_CREAT | IPC_EXCL | 0600);
    int msq = msgget(base + 3, IPC_CREAT | IPC_EXCL | 0600);
    if (priv < 0 || keyed < 0 || sem < 0 || msq < 0) { fail("create: %s", strerror(errno)); return finish(); }
    volatile uint32_t *shared = shmat(priv, NULL, 0);
    char *rw = shmat(keyed, NULL, 0);
    if (shared == (void *)-1 || rw == (void *)-1) { fail("shmat"); return finish(); }
    for (size_t i = 0; i < size / 4; i++) shared[i] = (uint32_t)(i * 2654435761u);
    memcpy(rw + 5000, "keyed segment", 14);
    shmdt(rw);
    const char *ro = shmat(keyed, NULL, SHM_RDONLY);
    shmctl(priv, IPC_RMID, NULL);
    /* An attachment in parts (zdtm shm-mp): one page made read-only (the
     * mapping splits) and its first page unmapped (what is left starts at an offset). */
    int parts = shmget(IPC_PRIVATE, 5 * 4096, IPC_CREAT | 0600);
    char *whole = parts < 0 ? (char *)-1 : shmat(parts, NULL, 0);
    if (whole == (char *)-1) { fail("shmat parts: %s", strerror(errno)); return finish(); }
    shmctl(parts, IPC_RMID, NULL);
    for (int pg = 0; pg < 5; pg++) memset(whole + pg * 4096, 'a' + pg, 4096);
    if (mprotect(whole + 2 * 4096, 4096, PROT_READ) != 0 || munmap(whole, 4096) != 0) fail("split the attachment: %s", strerror(errno));
    unsigned short init[3] = { 1, 5, 9 };
    semctl(sem, 0, SETALL, init);
    struct sembuf down = { .sem_num = 1, .sem_op = -1, .sem_flg = 0 };
    if (semop(sem, &down, 1) != 0) fail("semop");
    struct message a = { 1, "alpha" }, o = { 7, "omega" };
    if (msgsnd(msq, &a, 6, 0) != 0 || msgsnd(msq, &o, 6, 0) != 0) fail("msgsnd");
    char path[4096];
    snprintf(path, sizeof path, "%s/ipc-ids", argv[1]);
    FILE *f = fopen(path, "w");
    fprintf(f, "%d %d %d\n", keyed, sem, msq);
    fclose(f);

    handle_term();
    pid_t child = fork();
    if (child == 0) {
        wait_for_term();
        for (size_t i = 4; i < size / 4; i++) if (shared[i] != (uint32_t)(i * 2654435761u)) { fail("child: word %zu", i); break; }
        shared[2] = 0xAF7E12;
        for (int k = 0; k < 500 && shared[3] != 0xBEEF; k++) usleep(10000);
        if (shared[3] != 0xBEEF) fail("child: the parent's write after restart never arrived");
        return finish();
    }
    ready();
    wait_for_term();

    shared[3] = 0xBEEF;
    for (int k = 0; k < 500 && shared[2] != 0xAF7E12; k++) usleep(10000);
    if (shared[2] != 0xAF7E12) fail("the child's write after restart never arrived (segment not shared)");
    /* The child holds the keyed segment too (inherited): count after it is gone. */
    int st;
    if (waitpid(-1, &st, 0) <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) fail("child failed");
    if (strcmp(ro + 5000, "keyed segment") != 0) fail("keyed segment contents lost");
    check_parts(whole);
    int k2 = shmget(base + 1, 0, 0), s2 = semget(base + 2, 0, 0), q2 = msgget(base + 3, 0);
    if (k2 < 0 || s2 < 0 || q2 < 0) { fail("keyed objects not found again: %d %d %d", k2, s2, q2); return finish(); }
    if (same_ids && (k2 != keyed || s2 != sem || q2 != msq)) fail("IDs changed: %d/%d %d/%d %d/%d", k2, keyed, s2, sem, q2, msq);
    struct shmid_ds ds;
    if (shmctl(k2, IPC_STAT, &ds) != 0 || ds.shm_nattch != 1 || ds.shm_segsz != 8192) fail("keyed segment: nattch %lu size %zu", (unsigned long)ds.shm_nattch, ds.shm_segsz);
    if ((ds.shm_perm.mode & 0777) != 0640) fail("keyed segment mode %o", ds.shm_perm.mode & 0777);
    unsigned short v[3] = { 0, 0, 0 };
    semctl(s2, 0, GETALL, v);
    if (v[0] != 1 || v[1] != 4 || v[2] != 9) fail("semaphore values %u %u %u, want 1 4 9", v[0], v[1], v[2]);
    struct message m;
    if (msgrcv(q2, &m, sizeof m.text, 0, IPC_NOWAIT) != 6 || m.type != 1 || strcmp(m.text, "alpha") != 0) fail("first message");
    if (msgrcv(q2, &m, sizeof m.text, 0, IPC_NOWAIT) != 6 || m.type != 7 || strcmp(m.text, "omega") != 0) fail("second message");
    shmctl(k2, IPC_RMID, NULL);
    semctl(s2, 0, IPC_RMID);
    msgctl(q2, IPC_RMID, NULL);
    return finish();
}
