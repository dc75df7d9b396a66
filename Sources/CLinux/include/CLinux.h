// CLinux: the thin C layer under swiftcr. It holds only what Swift cannot
// call or see: variadic system calls (ptrace, syscall, prctl), kernel structs
// that Glibc does not declare, a CPU instruction, and constants. No logic.
#ifndef SWIFTCR_CLINUX_H
#define SWIFTCR_CLINUX_H

#include <stdint.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/prctl.h>

// MARK: variadic calls

static inline long cl_ptrace(long request, pid_t pid, void *addr, void *data) {
    return ptrace((enum __ptrace_request)request, pid, addr, data);
}

static inline long cl_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
    return syscall(nr, a1, a2, a3, a4, a5, a6);
}

static inline int cl_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return prctl(option, a2, a3, a4, a5);
}

// memmem is a GNU extension the Glibc module does not declare.
void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);

static inline int cl_sigrtmin(void) { return SIGRTMIN; }
static inline int cl_sigrtmax(void) { return SIGRTMAX; }

// MARK: kernel structs Glibc lacks (layouts checked below)

/// struct ptrace_rseq_configuration (linux/ptrace.h).
struct cl_rseq_configuration {
    uint64_t rseq_abi_pointer;
    uint32_t rseq_abi_size;
    uint32_t signature;
    uint32_t flags;
    uint32_t pad;
};

/// struct ptrace_syscall_info (linux/ptrace.h), its exit member: op is
/// CL_PTRACE_SYSCALL_INFO_EXIT at a syscall-exit stop.
struct cl_ptrace_syscall_exit_info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t stack_pointer;
    int64_t rval;
    uint8_t is_error;
    uint8_t pad2[7];
    uint64_t rest[6];  /* the union's other members are larger */
};
#define CL_PTRACE_SYSCALL_INFO_EXIT 2

/// The kernel's struct sigaction for rt_sigaction on x86_64 (not glibc's).
struct cl_kernel_sigaction {
    uint64_t handler;
    uint64_t flags;
    uint64_t restorer;
    uint64_t mask;
};

/// struct sched_attr (linux/sched/types.h), SCHED_ATTR_SIZE_VER1 (glibc
/// before 2.41 does not declare it).
struct cl_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
};

/// struct clone_args (linux/sched.h), CLONE_ARGS_SIZE_VER2.
struct cl_clone_args {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
    uint64_t set_tid;
    uint64_t set_tid_size;
    uint64_t cgroup;
};

/// stack_t for sigaltstack as the kernel lays it out.
struct cl_stack {
    uint64_t ss_sp;
    int32_t ss_flags;
    int32_t pad;
    uint64_t ss_size;
};

/// struct sigcontext on x86_64 (asm/sigcontext.h), with fpstate as an address.
struct cl_sigcontext {
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
    uint16_t cs, gs, fs, ss;
    uint64_t err, trapno, oldmask, cr2, fpstate;
    uint64_t reserved1[8];
};

/// struct rt_sigframe on x86_64 (arch/x86/include/asm/sigframe.h): what
/// rt_sigreturn reads at rsp - 8. The xsave area it points to follows it.
struct cl_rt_sigframe {
    uint64_t pretcode;
    uint64_t uc_flags;
    uint64_t uc_link;
    struct cl_stack uc_stack;
    struct cl_sigcontext uc_mcontext;
    uint64_t uc_sigmask;
    uint8_t info[128];
};

/// struct _fpx_sw_bytes (asm/sigcontext.h): bytes 464-511 of a signal frame's xsave area.
struct cl_fpx_sw_bytes {
    uint32_t magic1;
    uint32_t extended_size;
    uint64_t xfeatures;
    uint32_t xstate_size;
    uint32_t padding[7];
};

enum {
    CL_FP_XSTATE_MAGIC1 = 0x46505853,
    CL_FP_XSTATE_MAGIC2 = 0x46505845,
    CL_UC_FP_XSTATE = 1,
    CL_UC_SIGCONTEXT_SS = 2,
    CL_UC_STRICT_RESTORE_SS = 4,
};

/// struct pm_scan_arg and page_region (linux/fs.h, 6.7+), for PAGEMAP_SCAN.
struct cl_page_region {
    uint64_t start;
    uint64_t end;
    uint64_t categories;
};

struct cl_pm_scan_arg {
    uint64_t size;
    uint64_t flags;
    uint64_t start;
    uint64_t end;
    uint64_t walk_end;
    uint64_t vec;
    uint64_t vec_len;
    uint64_t max_pages;
    uint64_t category_inverted;
    uint64_t category_mask;
    uint64_t category_anyof_mask;
    uint64_t return_mask;
};

// MARK: constants

enum {
    CL_PTRACE_SEIZE = 0x4206,
    CL_PTRACE_INTERRUPT = 0x4207,
    CL_PTRACE_GETSIGMASK = 0x420a,
    CL_PTRACE_SETSIGMASK = 0x420b,
    CL_PTRACE_PEEKSIGINFO = 0x4209,
    CL_PTRACE_GET_RSEQ_CONFIGURATION = 0x420f,
    CL_PTRACE_GET_SYSCALL_INFO = 0x420e,
    CL_PTRACE_SECCOMP_GET_FILTER = 0x420c,
    CL_PTRACE_SECCOMP_GET_METADATA = 0x420d,
    CL_PTRACE_O_TRACESYSGOOD = 1,
    CL_PTRACE_O_EXITKILL = 0x100000,
    CL_PTRACE_O_SUSPEND_SECCOMP = 0x200000,
    CL_PTRACE_O_TRACECLONE = 8,
    CL_PTRACE_O_TRACEFORK = 2,
    CL_PTRACE_O_TRACEVFORK = 4,
    CL_PTRACE_EVENT_VFORK = 2,
    CL_PTRACE_LISTEN = 0x4208,
    CL_PTRACE_GETEVENTMSG = 0x4201,
    CL_PTRACE_EVENT_FORK = 1,
    CL_PTRACE_EVENT_CLONE = 3,
    CL_CLONE_THREAD_FLAGS = 0x00000100 | 0x00000200 | 0x00000400 | 0x00000800 | 0x00010000 | 0x00040000,
    CL_PTRACE_EVENT_STOP = 128,
    CL_PTRACE_PEEKSIGINFO_SHARED = 1,
    CL_NT_PRSTATUS = 1,
    CL_NT_X86_XSTATE = 0x202,
    CL_RSEQ_FLAG_UNREGISTER = 1,
    CL_MREMAP_MAYMOVE = 1,
    CL_MREMAP_FIXED = 2,
    CL_MAP_FIXED_NOREPLACE = 0x100000,
    CL_ERESTARTSYS = 512,
    CL_ERESTARTNOINTR = 513,
    CL_ERESTARTNOHAND = 514,
    CL_ERESTART_RESTARTBLOCK = 516,
    // PAGEMAP_SCAN categories (linux/fs.h, 6.7+): WPALLOWED 1<<0, WRITTEN 1<<1, FILE 1<<2, PRESENT 1<<3, SWAPPED 1<<4, PFNZERO 1<<5.
    CL_PAGE_IS_WPALLOWED = 1 << 0,
    CL_PAGE_IS_WRITTEN = 1 << 1,
    CL_PAGE_IS_FILE = 1 << 2,
    CL_PAGE_IS_PRESENT = 1 << 3,
    CL_PAGE_IS_SWAPPED = 1 << 4,
    CL_PAGE_IS_PFNZERO = 1 << 5,
    CL_CLONE_NEWUSER = 0x10000000,
    CL_CLONE_NEWPID = 0x20000000,
    CL_CLONE_NEWTIME = 0x00000080,
    CL_CLONE_NEWNS = 0x00020000,
    CL_CLONE_FILES = 0x00000400,
    CL_CLONE_PARENT = 0x00008000,
    CL_F_SETPIPE_SZ = 1031,  // linux/fcntl.h: F_LINUX_SPECIFIC_BASE + 7
    CL_F_GETPIPE_SZ = 1032,
    CL_F_ADD_SEALS = 1033,
    CL_F_GET_SEALS = 1034,
    CL___O_TMPFILE = 020000000,   // O_TMPFILE is this with O_DIRECTORY
    CL_PR_TIMER_CREATE_RESTORE_IDS = 77,  // linux/prctl.h, 6.17+
    CL_PR_SET_MDWE = 65,          // linux/prctl.h, 6.3+: memory-deny-write-execute
    CL_PR_GET_MDWE = 66,
    CL_MADV_GUARD_INSTALL = 102,  // asm-generic/mman-common.h, 6.13+
    CL_MAP_DROPPABLE = 0x08,      // linux/mman.h, 6.11+: a mapping type, like MAP_PRIVATE
    CL_NR_MSEAL = 462,            // asm/unistd_64.h, 6.10+ (Debian 12's headers predate it)
};

// TFD_IOC_SET_TICKS = _IOW('T', 0, __u64) (linux/timerfd.h)
#define CL_TFD_IOC_SET_TICKS 0x40085400UL

// UTIME_OMIT (bits/stat.h: ((1l << 30) - 2l), an expression Swift cannot import)
#define CL_UTIME_OMIT 1073741822L

// O_TMPFILE (bits/fcntl-linux.h builds it from two macros Swift cannot import)
#define CL_O_TMPFILE 020200000
/* O_PATH and AT_EMPTY_PATH, which Glibc's Swift module does not export. */
#define CL_O_PATH 010000000
#define CL_AT_EMPTY_PATH 0x1000

// PAGEMAP_SCAN = _IOWR('f', 16, struct pm_scan_arg)
#define CL_PAGEMAP_SCAN 0xc0606610UL

// MARK: userfaultfd (linux/userfaultfd.h), for lazy restore

/// struct uffdio_api, uffdio_range, uffdio_register, uffdio_copy, uffdio_zeropage.
struct cl_uffdio_api { uint64_t api; uint64_t features; uint64_t ioctls; };
struct cl_uffdio_range { uint64_t start; uint64_t len; };
struct cl_uffdio_register { struct cl_uffdio_range range; uint64_t mode; uint64_t ioctls; };
struct cl_uffdio_copy { uint64_t dst; uint64_t src; uint64_t len; uint64_t mode; int64_t copy; };
struct cl_uffdio_zeropage { struct cl_uffdio_range range; uint64_t mode; int64_t zeropage; };
/// struct uffd_msg: the event, then its argument words (the union, flat).
struct cl_uffd_msg { uint8_t event; uint8_t reserved1; uint16_t reserved2; uint32_t reserved3; uint64_t arg[3]; };

#define CL_UFFD_API 0xAAULL
#define CL_UFFDIO_API 0xc018aa3fUL
#define CL_UFFDIO_REGISTER 0xc020aa00UL
#define CL_UFFDIO_UNREGISTER 0x8010aa01UL
#define CL_UFFDIO_WAKE 0x8010aa02UL
#define CL_UFFDIO_COPY 0xc028aa03UL
#define CL_UFFDIO_ZEROPAGE 0xc020aa04UL
#define CL_UFFDIO_REGISTER_MODE_MISSING 1ULL
#define CL_UFFDIO_REGISTER_MODE_WP 2ULL
/// Written pages lose their write protection in the kernel, no fault is reported (6.7+).
#define CL_UFFD_FEATURE_WP_ASYNC (1ULL << 15)
/// PAGEMAP_SCAN flags (linux/fs.h, 6.7+).
#define CL_PM_SCAN_WP_MATCHING 1ULL
#define CL_PM_SCAN_CHECK_WPASYNC 2ULL
#define CL_UFFD_EVENT_PAGEFAULT 0x12
#define CL_UFFD_EVENT_FORK 0x13
#define CL_UFFD_EVENT_REMAP 0x14
#define CL_UFFD_EVENT_REMOVE 0x15
#define CL_UFFD_EVENT_UNMAP 0x16
#define CL_UFFD_FEATURE_EVENT_FORK (1ULL << 1)
#define CL_UFFD_FEATURE_EVENT_REMAP (1ULL << 2)
#define CL_UFFD_FEATURE_EVENT_REMOVE (1ULL << 3)
#define CL_UFFD_FEATURE_EVENT_UNMAP (1ULL << 6)
#define CL_UFFD_USER_MODE_ONLY 1

// MARK: layout checks

_Static_assert(sizeof(struct user_regs_struct) == 27 * 8, "user_regs_struct");
_Static_assert(sizeof(struct cl_rseq_configuration) == 24, "ptrace_rseq_configuration");
_Static_assert(sizeof(struct cl_ptrace_syscall_exit_info) == 88, "ptrace_syscall_info");
_Static_assert(sizeof(struct cl_kernel_sigaction) == 32, "kernel sigaction");
_Static_assert(sizeof(struct cl_clone_args) == 88, "clone_args VER2");
_Static_assert(sizeof(struct cl_stack) == 24, "stack_t");
_Static_assert(sizeof(struct cl_sigcontext) == 256, "sigcontext");
_Static_assert(sizeof(struct cl_rt_sigframe) == 440, "rt_sigframe");
_Static_assert(sizeof(struct cl_fpx_sw_bytes) == 48, "_fpx_sw_bytes");
_Static_assert(sizeof(struct prctl_mm_map) == 104, "prctl_mm_map");
_Static_assert(sizeof(struct cl_pm_scan_arg) == 96, "pm_scan_arg");
_Static_assert(sizeof(struct cl_page_region) == 24, "page_region");
_Static_assert(sizeof(siginfo_t) == 128, "siginfo");
_Static_assert(sizeof(struct cl_uffdio_api) == 24 && sizeof(struct cl_uffdio_register) == 32, "uffdio_api, uffdio_register");
_Static_assert(sizeof(struct cl_uffdio_copy) == 40 && sizeof(struct cl_uffdio_zeropage) == 32, "uffdio_copy, uffdio_zeropage");
_Static_assert(sizeof(struct cl_uffd_msg) == 32, "uffd_msg");

// MARK: CPU instruction Swift cannot emit

/// XCR0: the xsave state components the OS enabled on this CPU.
__attribute__((target("xsave")))
static inline uint64_t cl_xgetbv0(void) {
    return __builtin_ia32_xgetbv(0);
}


#endif
