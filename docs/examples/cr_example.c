/* A BLCR-aware program, as in docs/USER-GUIDE.md: it keeps a counter,
 * protects its update with a critical section, learns from a callback
 * whether it continues after a checkpoint or was restarted, and can ask
 * for its own checkpoint.
 *
 *   cc cr_example.c $(pkg-config --cflags --libs cr) -o cr_example
 *   ./cr_example self FILE   checkpoint itself into FILE, then exit
 *   cr_restart FILE          the restarted copy reports and exits
 */
#include <libcr.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cr_client_id_t client;
static long counter;

/* Thread-context callback: runs in libcr's thread before the checkpoint. */
static int on_checkpoint(void *arg) {
    const struct cr_checkpoint_info *info = cr_get_checkpoint_info();
    printf("checkpoint requested by %d, image %s\n", info ? (int)info->requester : -1, info && info->dest ? info->dest : "?");
    int r = cr_checkpoint(CR_CHECKPOINT_READY);  /* the checkpoint happens here */
    if (r < 0) {
        printf("checkpoint failed: %s\n", cr_strerror(-r));
    } else if (r == 0) {
        printf("continuing after the checkpoint, counter %ld\n", counter);
    } else {
        const struct cr_restart_info *ri = cr_get_restart_info();
        printf("restarted from %s, counter %ld\n", ri ? ri->src : "?", counter);
        *(int *)arg = 1;
    }
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    static int restarted;
    client = cr_init();
    if (client < 0) { perror("cr_init"); return 1; }
    if (cr_register_callback(on_checkpoint, &restarted, CR_THREAD_CONTEXT) < 0) { perror("cr_register_callback"); return 1; }

    /* Updates a checkpoint must not split happen inside a critical section. */
    cr_enter_cs(client);
    counter = 41;
    counter++;
    cr_leave_cs(client);

    if (argc == 3 && strcmp(argv[1], "self") == 0) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        cr_checkpoint_args_t args;
        cr_checkpoint_handle_t handle;
        cr_initialize_checkpoint_args_t(&args);
        args.cr_scope = CR_SCOPE_PROC;  /* just this process */
        args.cr_fd = fd;
        if (fd < 0 || cr_request_checkpoint(&args, &handle) != 0) { perror("cr_request_checkpoint"); return 1; }
        cr_wait_checkpoint(&handle, NULL);
        int reaped = cr_reap_checkpoint(&handle);
        if (reaped < 0 && errno != CR_ERESTARTED) { printf("request failed: %s\n", cr_strerror(errno)); return 1; }
        close(fd);
        printf(restarted ? "done (restarted copy)\n" : "done (original)\n");
        return 0;
    }
    printf("pid %d: checkpoint me with cr_checkpoint %d\n", getpid(), getpid());
    fflush(stdout);
    for (;;) pause();
}
