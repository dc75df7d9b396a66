import CLinux

/// System call numbers, from the C library's <sys/syscall.h> (the kernel's
/// syscall_64.tbl on x86_64): never typed by hand.
public enum NR {
    public static let arch_prctl = Int(SYS_arch_prctl), bind = Int(SYS_bind), brk = Int(SYS_brk), chdir = Int(SYS_chdir), chroot = Int(SYS_chroot)
    public static let capset = Int(SYS_capset), setfsuid = Int(SYS_setfsuid), setfsgid = Int(SYS_setfsgid)
    public static let clone3 = Int(SYS_clone3), close = Int(SYS_close), close_range = Int(SYS_close_range), dup2 = Int(SYS_dup2)
    public static let dup3 = Int(SYS_dup3), epoll_create1 = Int(SYS_epoll_create1), epoll_ctl = Int(SYS_epoll_ctl), eventfd2 = Int(SYS_eventfd2)
    public static let exit_group = Int(SYS_exit_group), fchdir = Int(SYS_fchdir), fcntl = Int(SYS_fcntl), flock = Int(SYS_flock)
    public static let ftruncate = Int(SYS_ftruncate), get_robust_list = Int(SYS_get_robust_list), getcpu = Int(SYS_getcpu), getitimer = Int(SYS_getitimer)
    public static let getpid = Int(SYS_getpid), getppid = Int(SYS_getppid), gettid = Int(SYS_gettid), inotify_add_watch = Int(SYS_inotify_add_watch)
    public static let inotify_init1 = Int(SYS_inotify_init1), inotify_rm_watch = Int(SYS_inotify_rm_watch), ioctl = Int(SYS_ioctl)
    public static let io_setup = Int(SYS_io_setup), io_destroy = Int(SYS_io_destroy), io_submit = Int(SYS_io_submit)
    public static let kcmp = Int(SYS_kcmp), kill = Int(SYS_kill), lseek = Int(SYS_lseek), madvise = Int(SYS_madvise), memfd_create = Int(SYS_memfd_create)
    public static let mlock = Int(SYS_mlock), mmap = Int(SYS_mmap), mprotect = Int(SYS_mprotect), mremap = Int(SYS_mremap), msgctl = Int(SYS_msgctl)
    public static let msgget = Int(SYS_msgget), msgrcv = Int(SYS_msgrcv), msgsnd = Int(SYS_msgsnd), munmap = Int(SYS_munmap)
    public static let open = Int(SYS_open), open_by_handle_at = Int(SYS_open_by_handle_at), openat = Int(SYS_openat), pause = Int(SYS_pause)
    public static let personality = Int(SYS_personality), pidfd_getfd = Int(SYS_pidfd_getfd), pidfd_open = Int(SYS_pidfd_open)
    public static let poll = Int(SYS_poll), prctl = Int(SYS_prctl), prlimit64 = Int(SYS_prlimit64), process_vm_readv = Int(SYS_process_vm_readv)
    public static let process_vm_writev = Int(SYS_process_vm_writev), ptrace = Int(SYS_ptrace), read = Int(SYS_read), recvmsg = Int(SYS_recvmsg)
    public static let restart_syscall = Int(SYS_restart_syscall), rseq = Int(SYS_rseq), rt_sigaction = Int(SYS_rt_sigaction)
    public static let rt_sigprocmask = Int(SYS_rt_sigprocmask), rt_sigqueueinfo = Int(SYS_rt_sigqueueinfo), rt_sigtimedwait = Int(SYS_rt_sigtimedwait)
    public static let rt_tgsigqueueinfo = Int(SYS_rt_tgsigqueueinfo), sched_getaffinity = Int(SYS_sched_getaffinity), sched_setaffinity = Int(SYS_sched_setaffinity)
    public static let seccomp = Int(SYS_seccomp), semctl = Int(SYS_semctl), semget = Int(SYS_semget), set_robust_list = Int(SYS_set_robust_list)
    public static let set_tid_address = Int(SYS_set_tid_address), setgroups = Int(SYS_setgroups), setitimer = Int(SYS_setitimer)
    public static let setpgid = Int(SYS_setpgid), setresgid = Int(SYS_setresgid), setresuid = Int(SYS_setresuid), setsid = Int(SYS_setsid)
    public static let shmat = Int(SYS_shmat), shmctl = Int(SYS_shmctl), shmget = Int(SYS_shmget), sigaltstack = Int(SYS_sigaltstack)
    public static let signalfd4 = Int(SYS_signalfd4), socket = Int(SYS_socket), tee = Int(SYS_tee), timer_create = Int(SYS_timer_create)
    public static let timer_delete = Int(SYS_timer_delete), timer_gettime = Int(SYS_timer_gettime), timer_settime = Int(SYS_timer_settime)
    public static let timerfd_create = Int(SYS_timerfd_create), timerfd_settime = Int(SYS_timerfd_settime), umask = Int(SYS_umask)
    public static let unshare = Int(SYS_unshare), wait4 = Int(SYS_wait4), write = Int(SYS_write)
    public static let nanosleep = Int(SYS_nanosleep), membarrier = Int(SYS_membarrier)
}
