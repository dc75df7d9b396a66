/* swiftcr: BLCR's ioctl magic, kept so programs that include the header
 * build. swiftcr's ptrace backend issues no ioctls to a checkpoint module. */
#ifndef _BLCR_IOCTL_H
#define _BLCR_IOCTL_H 1
#define CR_IOCTL_MAGIC 0xA2
#endif
