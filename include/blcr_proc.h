/* swiftcr: BLCR's /proc interface name. swiftcr's ptrace backend does not use
 * it; its presence (/proc/checkpoint/ctrl) selects BLCR's kernel backend. */
#ifndef _BLCR_PROC_H
#define _BLCR_PROC_H 1
#define CR_PROC_ENTRY "checkpoint/ctrl"
#endif
