/* swiftcr: BLCR's error codes, same names and values (BLCR include/blcr_errcodes.h). */
#ifndef _BLCR_ERRCODES_H
#define _BLCR_ERRCODES_H 1

enum {
    CR_MIN_ERRCODE = 2353,
    CR_ETEMPFAIL,   /* 2354 Temporary error: checkpoint cancelled */
    CR_EPERMFAIL,   /* 2355 Permanent failure: checkpoint cancelled and job killed */
    CR_ENOSUPPORT,  /* 2356 Checkpoint support not linked into one or more processes */
    CR_EVERSION,    /* 2357 Requested kernel interface version is not supported */
    CR_EOMITTED,    /* 2358 Process omitted from checkpoint at a callback's request */
    CR_EBADARCH,    /* 2359 Context file does not match the kernel architecture */
    CR_EPTRACED,    /* 2360 One or more target processes is being ptraced */
    CR_EPTRACER,    /* 2361 One or more target processes has ptrace children */
    CR_ERSTRTABRT,  /* 2362 Restart aborted: restart cancelled and job killed */
    CR_ERESTARTED,  /* 2363 Request is invalid across a restart */
    CR_ENOTCB,      /* 2364 Call is only valid from a checkpoint callback */
    CR_ENOINIT,     /* 2365 Calling thread has not called cr_init() */
    CR_MAX_ERRCODE
};

#endif
