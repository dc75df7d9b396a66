/* swiftcr: BLCR's blcr_common.h: release numbers, the checkpoint signal,
 * scopes and request flags (same names and values as BLCR 0.8.6). */
#ifndef _BLCR_COMMON_H
#define _BLCR_COMMON_H 1

#include <sys/ioctl.h>  /* as BLCR's: its programs reach ioctl() through it */
#include <blcr_proc.h>
#include <blcr_errcodes.h>

#define CR_RELEASE_MAJOR 0
#define CR_RELEASE_MINOR 8
#define CR_RELEASE_PATCH 6
#define CR_RELEASE_VERSION "0.8.6 (swiftcr)"
#define LIBCR_MAJOR 0
#define LIBCR_MINOR 5
#define LIBCR_PATCH 5
#define LIBCR_VERSION "0.5.5"

/* The real-time signal libcr handles: SIGRTMAX on x86_64 Linux. */
#define CR_SIGNUM 64

typedef enum {
    CR_SCOPE_PROC = 0,
    CR_SCOPE_PGRP = 1,
    CR_SCOPE_SESS = 2,
    CR_SCOPE_TREE = 3
} cr_scope_t;

#define CR_CHKPT_PROHIBIT_SELF  0x00000001
#define CR_CHKPT_PTRACED_ALLOW  0x00000002
#define CR_CHKPT_PTRACED_SKIP   0x00000004
#define CR_CHKPT_PTRACER_SKIP   0x00000008
#define CR_CHKPT_ASYNC_ERR      0x00000010
#define CR_CHKPT_DUMP_EXEC      0x00000200
#define CR_CHKPT_DUMP_PRIVATE   0x00000400
#define CR_CHKPT_DUMP_SHARED    0x00000800
#define CR_CHKPT_DUMP_ALL       (CR_CHKPT_DUMP_EXEC | CR_CHKPT_DUMP_PRIVATE | CR_CHKPT_DUMP_SHARED)

#define CR_RSTRT_ASYNC_ERR      0x00000001
#define CR_RSTRT_RESTORE_PID    0x00000002
#define CR_RSTRT_RESTORE_PGID   0x00000004
#define CR_RSTRT_RESTORE_SID    0x00000008

/* cr_fd value: write context files to the requester's working directory. */
#define CR_DEST_CWD (-4096)

#define CR_MAX_RSTRT_RELOC 16

#endif
