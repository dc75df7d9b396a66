/// x86_64 system call numbers used by injection (arch/x86/entry/syscalls/syscall_64.tbl).
public enum NR {
    public static let read = 0, write = 1, open = 2, close = 3, lseek = 8, mmap = 9, mprotect = 10, munmap = 11
    public static let madvise = 28, brk = 12, rt_sigaction = 13, rt_sigprocmask = 14, mremap = 25, dup2 = 33, pause = 34
    public static let getppid = 110, exit_group = 231, mlock = 149
    public static let getpid = 39, kill = 62, fcntl = 72, chdir = 80, fchdir = 81, umask = 95, setresuid = 117
    public static let setresgid = 119, setgroups = 116, personality = 135, prctl = 157, arch_prctl = 158
    public static let chroot = 161, gettid = 186, set_tid_address = 218, restart_syscall = 219
    public static let rt_tgsigqueueinfo = 297, rt_sigqueueinfo = 129, sigaltstack = 131, openat = 257
    public static let set_robust_list = 273, get_robust_list = 274, setsid = 112, wait4 = 61, tee = 276, memfd_create = 319, eventfd2 = 290, signalfd4 = 289, timerfd_create = 283, timerfd_settime = 286, ioctl = 16, epoll_create1 = 291, epoll_ctl = 233, setpgid = 109, rt_sigtimedwait = 128
    public static let inotify_add_watch = 254, inotify_rm_watch = 255, inotify_init1 = 294, open_by_handle_at = 304, ftruncate = 77, shmget = 29, shmat = 30, shmctl = 31, semget = 64, semctl = 66, msgget = 68, msgsnd = 69, msgrcv = 70, msgctl = 71, socket = 41, bind = 49, recvmsg = 47, pidfd_open = 434, pidfd_getfd = 438, getitimer = 36, setitimer = 38, flock = 73, timer_create = 222, timer_settime = 223, timer_gettime = 224, timer_delete = 226
    public static let poll = 7, seccomp = 317, dup3 = 292, prlimit64 = 302, kcmp = 312, rseq = 334, clone3 = 435, close_range = 436
}
