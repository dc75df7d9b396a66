/* swiftcr: the ioctl numbers of BLCR's kernel module (/proc/checkpoint/ctrl),
 * kept so programs that include the header build, and used by swiftcr's
 * thin kernel backend. swiftcr's default ptrace backend issues none of them. */
#ifndef _CR_IOCTL_H
#define _CR_IOCTL_H 1
#include <linux/ioctl.h>

#define CR_IOCTL_BASE 0xA1

/* from libcr's callback code */
#define CR_OP_HAND_CHKPT      _IOW (CR_IOCTL_BASE, 0x01, unsigned long)
#define CR_OP_HAND_ABORT      _IOW (CR_IOCTL_BASE, 0x02, unsigned long)
#define CR_OP_HAND_PHASE1     _IOW (CR_IOCTL_BASE, 0x05, long)
#define CR_OP_HAND_SUSP       _IOWR(CR_IOCTL_BASE, 0x06, struct timeval *)
#define CR_OP_HAND_PHASE2     _IOW (CR_IOCTL_BASE, 0x07, long)
#define CR_OP_HAND_DONE       _IOW (CR_IOCTL_BASE, 0x08, unsigned long)
#define CR_OP_HAND_SRC        _IOR (CR_IOCTL_BASE, 0x09, char *)
#define CR_OP_HAND_CHKPT_INFO _IOR (CR_IOCTL_BASE, 0x0a, struct cr_chkpt_info *)
/* from cr_checkpoint */
#define CR_OP_CHKPT_REQ       _IOW (CR_IOCTL_BASE, 0x10, struct cr_chkpt_args *)
#define CR_OP_CHKPT_REAP      _IO  (CR_IOCTL_BASE, 0x12)
#define CR_OP_CHKPT_FWD       _IOW (CR_IOCTL_BASE, 0x13, struct cr_fwd_args *)
#define CR_OP_CHKPT_LOG       _IOR (CR_IOCTL_BASE, 0x14, struct cr_log_args *)
/* from cr_restart */
#define CR_OP_RSTRT_REQ       _IOW (CR_IOCTL_BASE, 0x20, struct cr_rstrt_args *)
#define CR_OP_RSTRT_REAP      _IO  (CR_IOCTL_BASE, 0x22)
#define CR_OP_RSTRT_CHILD     _IO  (CR_IOCTL_BASE, 0x23)
#define CR_OP_RSTRT_PROCS     _IOR (CR_IOCTL_BASE, 0x26, struct cr_procs_tbl *)
#define CR_OP_RSTRT_LOG       _IOR (CR_IOCTL_BASE, 0x27, struct cr_log_args *)
/* general */
#define CR_OP_VERSION         _IOW (CR_IOCTL_BASE, 0x30, unsigned long)

#endif
