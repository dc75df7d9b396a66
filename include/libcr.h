/* swiftcr: BLCR's libcr API (BLCR 0.8.6 include/libcr.h): the same types,
 * constants and prototypes, so BLCR-aware programs build unchanged against
 * swiftcr's libcr.so. Behaviour is documented in docs/USER-GUIDE.md and the
 * agent protocol in docs/LIBCR-AGENT.md. */
#ifndef _LIBCR_H
#define _LIBCR_H 1

/* As BLCR's libcr.h: programs use errno, EINTR, EBUSY... and struct timeval
 * after including only this header. */
#include <features.h>
#include <sys/select.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/time.h>
#include <blcr_common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int cr_client_id_t;
typedef int cr_callback_id_t;
typedef unsigned int cr_version_t;
typedef unsigned long cr_checkpoint_handle_t;
typedef unsigned long cr_restart_handle_t;
typedef int (*cr_callback_t)(void *);
typedef volatile unsigned int cr_spinlock_t;

#define CR_CHECKPOINT_ARGS_VERSION 1
#define CR_RESTART_ARGS_VERSION 1

typedef struct cr_checkpoint_args_s {
    cr_version_t cr_version;
    cr_scope_t cr_scope;
    pid_t cr_target;
    int cr_fd;
    int cr_signal;
    unsigned int cr_timeout;
    unsigned int cr_flags;
} cr_checkpoint_args_t;

struct cr_rstrt_relocate_pair {
    const char *oldpath;
    const char *newpath;
};
struct cr_rstrt_relocate {
    unsigned int count;
    struct cr_rstrt_relocate_pair path[];
};
#define CR_RSTRT_RELOCATE_SIZE(n) (sizeof(struct cr_rstrt_relocate) + (n) * sizeof(struct cr_rstrt_relocate_pair))

typedef struct cr_restart_args_s {
    cr_version_t cr_version;
    int cr_fd;
    int cr_signal;
    unsigned int cr_flags;
    struct cr_rstrt_relocate *cr_relocate;
} cr_restart_args_t;

struct cr_checkpoint_info {
    int signal;
    const char *dest;
    pid_t requester;
    pid_t target;
    cr_scope_t scope;
};

struct cr_restart_info {
    pid_t requester;
    const char *src;
};

/* cr_checkpoint() flags */
#define CR_CHECKPOINT_READY 0
#define CR_CHECKPOINT_TEMP_FAILURE 1
#define CR_CHECKPOINT_PERM_FAILURE 2
#define CR_CHECKPOINT_OMIT 4
#define CR_CHECKPOINT_TEMP_FAILURE_CODE(v) (CR_CHECKPOINT_TEMP_FAILURE | ((v) << 16))
#define CR_CHECKPOINT_PERM_FAILURE_CODE(v) (CR_CHECKPOINT_PERM_FAILURE | ((v) << 16))

/* Callback contexts */
#define CR_THREAD_CONTEXT 0x4000000
#define CR_SIGNAL_CONTEXT 0x2000000
#define CR_ID_CALLBACK (-1)
#define CR_MAX_CALLBACKS 0x1FFFFFF

/* cr_status() */
#define CR_STATE_IDLE 0
#define CR_STATE_PENDING 1
#define CR_STATE_ACTIVE 2

/* cr_hold_ctrl() */
#define CR_HOLD_SCOPE_THREAD 0
#define CR_HOLD_SCOPE_INIT 1
#define CR_HOLD_SCOPE_UNINIT 2
#define CR_HOLD_READ (-1)
#define CR_HOLD_NONE 0
#define CR_HOLD_CONT 1
#define CR_HOLD_RSTRT 2
#define CR_HOLD_BOTH 3
#define CR_HOLD_DFLT 4

/* Hooks */
typedef enum {
    CR_HOOK_CONT_SIGNAL_CONTEXT = 0,
    CR_HOOK_CONT_THREAD_CONTEXT = 1,
    CR_HOOK_CONT_NO_CALLBACKS = 2,
    CR_HOOK_RSTRT_SIGNAL_CONTEXT = 3,
    CR_HOOK_RSTRT_THREAD_CONTEXT = 4,
    CR_HOOK_RSTRT_NO_CALLBACKS = 5,
    CR_NUM_HOOKS = 6
} cr_hook_event_t;
typedef void (*cr_hook_fn_t)(cr_hook_event_t);
#define CR_HOOK_FN_ERROR ((cr_hook_fn_t)~0UL)

/* Poll errors */
#define CR_POLL_CHKPT_ERR_PRE (-1)
#define CR_POLL_CHKPT_ERR_POST (-2)
#define CR_POLL_CHKPT_ERR_LOG (-3)
#define CR_POLL_RSTRT_ERR_PRE (-1)
#define CR_POLL_RSTRT_ERR_POST (-2)
#define CR_POLL_RSTRT_ERR_LOG (-3)

#define CR_SPINLOCK_INITIALIZER 0U

extern cr_client_id_t cr_init(void);
extern cr_callback_id_t cr_register_callback(cr_callback_t func, void *arg, int flags);
extern int cr_replace_callback(cr_callback_id_t id, cr_callback_t func, void *arg, int flags);
extern int cr_replace_self(cr_callback_t func, void *arg, int flags);
extern int cr_checkpoint(int flags);
extern int cr_enter_cs(cr_client_id_t id);
extern int cr_leave_cs(cr_client_id_t id);
extern int cr_tryenter_cs(cr_client_id_t id);
extern int cr_status(void);
extern int cr_forward_checkpoint(cr_scope_t scope, pid_t id);

extern int cr_initialize_checkpoint_args_t(cr_checkpoint_args_t *args);
extern int cr_request_checkpoint(cr_checkpoint_args_t *args, cr_checkpoint_handle_t *handle);
extern int cr_wait_checkpoint(cr_checkpoint_handle_t *handle, struct timeval *timeout);
extern int cr_log_checkpoint(cr_checkpoint_handle_t *handle, unsigned int len, char *buf);
extern int cr_reap_checkpoint(cr_checkpoint_handle_t *handle);
extern int cr_poll_checkpoint(cr_checkpoint_handle_t *handle, struct timeval *timeout);
extern int cr_poll_checkpoint_msg(cr_checkpoint_handle_t *handle, struct timeval *timeout, char **msg);

extern int cr_initialize_restart_args_t(cr_restart_args_t *args);
extern int cr_request_restart(cr_restart_args_t *args, cr_restart_handle_t *handle);
extern int cr_wait_restart(cr_restart_handle_t *handle, struct timeval *timeout);
extern int cr_log_restart(cr_restart_handle_t *handle, unsigned int len, char *buf);
extern int cr_reap_restart(cr_restart_handle_t *handle);
extern int cr_poll_restart(cr_restart_handle_t *handle, struct timeval *timeout);
extern int cr_poll_restart_msg(cr_restart_handle_t *handle, struct timeval *timeout, char **msg);

extern const struct cr_checkpoint_info *cr_get_checkpoint_info(void);
extern const struct cr_restart_info *cr_get_restart_info(void);

extern cr_hook_fn_t cr_register_hook(cr_hook_event_t event, cr_hook_fn_t hook_fn);
extern int cr_hold_ctrl(int scope, int flags);
extern int cr_inc_persist(void);
extern int cr_dec_persist(void);

extern void cr_spinlock_init(cr_spinlock_t *lock);
extern void cr_spinlock_lock(cr_spinlock_t *lock);
extern void cr_spinlock_unlock(cr_spinlock_t *lock);
extern int cr_spinlock_trylock(cr_spinlock_t *lock);

extern const char *cr_strerror(int errnum);

/* Deprecated BLCR calls */
extern int cr_request(void);
extern int cr_request_file(const char *filename);
extern int cr_request_fd(int fd);

#ifdef __cplusplus
}
#endif
#endif
