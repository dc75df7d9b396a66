import CLinux
import Glibc

/// Kernel constants the engine uses, each named once here. The values come
/// from the C headers (CLinux.h, which copies the few the C library does
/// not export from the kernel's uapi headers, with their origin).
public enum PtraceOption {
    public static let traceSysGood = Int(CL_PTRACE_O_TRACESYSGOOD)
    public static let traceClone = Int(CL_PTRACE_O_TRACECLONE)
    public static let traceFork = Int(CL_PTRACE_O_TRACEFORK)
    public static let traceVFork = Int(CL_PTRACE_O_TRACEVFORK)
    public static let exitKill = Int(CL_PTRACE_O_EXITKILL)
    public static let suspendSeccomp = Int(CL_PTRACE_O_SUSPEND_SECCOMP)
}

public enum PtraceEvent {
    /// The stop PTRACE_INTERRUPT (or a group stop under PTRACE_SEIZE) reports.
    public static let stop = Int32(CL_PTRACE_EVENT_STOP)
    public static let fork = Int32(CL_PTRACE_EVENT_FORK), vfork = Int32(CL_PTRACE_EVENT_VFORK), clone = Int32(CL_PTRACE_EVENT_CLONE)
}

/// The kernel's internal "restart this call" results a stopped thread's rax can hold (include/linux/errno.h).
public enum RestartErrno {
    public static let restartSys = Int64(CL_ERESTARTSYS)
    public static let restartNoIntr = Int64(CL_ERESTARTNOINTR)
    public static let restartNoHand = Int64(CL_ERESTARTNOHAND)
    public static let restartRestartBlock = Int64(CL_ERESTART_RESTARTBLOCK)
}

/// utimensat: leave this time as it is.
public let utimeOmit = Int(CL_UTIME_OMIT)

public enum CloneFlags {
    public static let newUser = UInt64(CL_CLONE_NEWUSER)
    public static let newPID = UInt64(CL_CLONE_NEWPID)
    public static let newTime = UInt64(CL_CLONE_NEWTIME)
    public static let newMount = UInt64(CL_CLONE_NEWNS)
    public static let newCgroup: UInt64 = 0x0200_0000  // CLONE_NEWCGROUP
    public static let newUTS: UInt64 = 0x0400_0000  // CLONE_NEWUTS
    public static let newIPC: UInt64 = 0x0800_0000  // CLONE_NEWIPC
    public static let newNet: UInt64 = 0x4000_0000  // CLONE_NEWNET
    /// Share the parent's file descriptor table.
    public static let files = UInt64(CL_CLONE_FILES)
    /// The child's parent is the caller's parent.
    public static let parent = UInt64(CL_CLONE_PARENT)
    /// What pthread_create passes: VM, FS, FILES, SIGHAND, THREAD, SYSVSEM.
    public static let thread = UInt64(CL_CLONE_THREAD_FLAGS)
}

public enum MemoryFlags {
    public static let mapFixedNoReplace = UInt64(CL_MAP_FIXED_NOREPLACE)
    public static let mremapMayMove = UInt64(CL_MREMAP_MAYMOVE)
    public static let mremapFixed = UInt64(CL_MREMAP_FIXED)
    public static let rseqUnregister = UInt64(CL_RSEQ_FLAG_UNREGISTER)
    /// madvise(MADV_GUARD_INSTALL), Linux 6.13+.
    public static let madvGuardInstall = UInt64(CL_MADV_GUARD_INSTALL)
    /// MAP_DROPPABLE (Linux 6.11+): private anonymous memory the kernel may drop under pressure.
    public static let mapDroppable = UInt64(CL_MAP_DROPPABLE)

    /// MAP_HUGETLB with the page size's log2 in bits 26-31 (MAP_HUGE_SHIFT); 0 for ordinary pages.
    public static func mapHugetlb(pageSize: UInt64) -> UInt64 {
        pageSize == 0 ? 0 : UInt64(MAP_HUGETLB) | hugeShift(pageSize)
    }

    /// MFD_HUGETLB with the page size the same way (memfd_create); 0 for ordinary pages.
    public static func memfdHugetlb(pageSize: UInt64) -> UInt64 {
        pageSize == 0 ? 0 : 4 | hugeShift(pageSize)  // MFD_HUGETLB
    }

    /// SHM_HUGETLB (shmget) with the page size the same way (SHM_HUGE_SHIFT); 0 for ordinary pages.
    public static func shmHugetlb(pageSize: UInt64) -> UInt64 {
        pageSize == 0 ? 0 : 0o4000 | hugeShift(pageSize)  // SHM_HUGETLB
    }

    private static func hugeShift(_ pageSize: UInt64) -> UInt64 { UInt64(pageSize.trailingZeroBitCount) << 26 }
}

/// fcntl commands glibc's Swift module leaves out (linux/fcntl.h).
public enum FcntlCommand {
    public static let setPipeSize = Int32(CL_F_SETPIPE_SZ)
    public static let getPipeSize = Int32(CL_F_GETPIPE_SZ)
    public static let addSeals = Int32(CL_F_ADD_SEALS)
    public static let getSeals = Int32(CL_F_GET_SEALS)
}

/// open flags glibc's Swift module leaves out.
public enum OpenFlags {
    public static let path = Int32(CL_O_PATH)
    /// O_TMPFILE without its O_DIRECTORY: what marks a file made so in its flags.
    public static let tmpFileBit = Int32(CL___O_TMPFILE)
    public static let tmpFile = Int32(CL___O_TMPFILE) | O_DIRECTORY
}

/// timerfd ioctls (linux/timerfd.h).
public enum TimerFDIoctl {
    /// TFD_IOC_SET_TICKS = _IOW('T', 0, u64)
    public static let setTicks = UInt64(CL_TFD_IOC_SET_TICKS)
}

/// The kernel's own layouts, named for the engine (CLinux checks their sizes).
public typealias KernelSigaction = cl_kernel_sigaction
public typealias KernelSignalStack = cl_stack
public typealias CloneArguments = cl_clone_args
public typealias SchedulingAttributes = cl_sched_attr

public enum CPU {
    /// XCR0: the xsave state components the OS enabled on this CPU.
    public static var xfeatures: UInt64 { cl_xgetbv0() }
}
