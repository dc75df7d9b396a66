import CLinux

/// A prctl(2) option, from <linux/prctl.h>, with its name for error messages.
public struct Prctl: Sendable {
    public let rawValue: Int32
    public let name: String
    init(_ value: Int32, _ name: String) { rawValue = value; self.name = name }

    public static let getDumpable = Prctl(Int32(PR_GET_DUMPABLE), "PR_GET_DUMPABLE")
    public static let getPdeathsig = Prctl(Int32(PR_GET_PDEATHSIG), "PR_GET_PDEATHSIG")
    public static let getThpDisable = Prctl(Int32(PR_GET_THP_DISABLE), "PR_GET_THP_DISABLE")
    public static let getTidAddress = Prctl(Int32(PR_GET_TID_ADDRESS), "PR_GET_TID_ADDRESS")
    public static let getTimerslack = Prctl(Int32(PR_GET_TIMERSLACK), "PR_GET_TIMERSLACK")
    public static let setDumpable = Prctl(Int32(PR_SET_DUMPABLE), "PR_SET_DUMPABLE")
    public static let setMm = Prctl(Int32(PR_SET_MM), "PR_SET_MM")
    public static let setName = Prctl(Int32(PR_SET_NAME), "PR_SET_NAME")
    public static let setNoNewPrivs = Prctl(Int32(PR_SET_NO_NEW_PRIVS), "PR_SET_NO_NEW_PRIVS")
    public static let setPdeathsig = Prctl(Int32(PR_SET_PDEATHSIG), "PR_SET_PDEATHSIG")
    public static let setThpDisable = Prctl(Int32(PR_SET_THP_DISABLE), "PR_SET_THP_DISABLE")
    public static let setTimerslack = Prctl(Int32(PR_SET_TIMERSLACK), "PR_SET_TIMERSLACK")
    public static let setVma = Prctl(Int32(PR_SET_VMA), "PR_SET_VMA")
    public static let setChildSubreaper = Prctl(Int32(PR_SET_CHILD_SUBREAPER), "PR_SET_CHILD_SUBREAPER")
    public static let getChildSubreaper = Prctl(Int32(PR_GET_CHILD_SUBREAPER), "PR_GET_CHILD_SUBREAPER")
    public static let setSeccomp = Prctl(Int32(PR_SET_SECCOMP), "PR_SET_SECCOMP")
    public static let capBoundingDrop = Prctl(Int32(PR_CAPBSET_DROP), "PR_CAPBSET_DROP")
    public static let setKeepCaps = Prctl(Int32(PR_SET_KEEPCAPS), "PR_SET_KEEPCAPS")
    public static let getKeepCaps = Prctl(Int32(PR_GET_KEEPCAPS), "PR_GET_KEEPCAPS")
    public static let getSecurebits = Prctl(Int32(PR_GET_SECUREBITS), "PR_GET_SECUREBITS")
    public static let setSecurebits = Prctl(Int32(PR_SET_SECUREBITS), "PR_SET_SECUREBITS")
    public static let capAmbient = Prctl(Int32(PR_CAP_AMBIENT), "PR_CAP_AMBIENT")
    public static let capAmbientRaise = UInt64(PR_CAP_AMBIENT_RAISE)
    /// Linux 6.17+, newer than the C library's headers here.
    public static let timerCreateRestoreIds = Prctl(Int32(CL_PR_TIMER_CREATE_RESTORE_IDS), "PR_TIMER_CREATE_RESTORE_IDS")
    /// Linux 6.3+: memory-deny-write-execute (PR_MDWE_REFUSE_EXEC_GAIN 1, PR_MDWE_NO_INHERIT 2).
    public static let setMdwe = Prctl(Int32(CL_PR_SET_MDWE), "PR_SET_MDWE")
    public static let getMdwe = Prctl(Int32(CL_PR_GET_MDWE), "PR_GET_MDWE")

    /// Second arguments of PR_SET_MM and PR_SET_VMA.
    public static let mmMap = UInt64(PR_SET_MM_MAP)
    public static let vmaAnonName = UInt64(PR_SET_VMA_ANON_NAME)
}

/// struct prctl_mm_map, for PR_SET_MM_MAP (CLinux checks its size).
public typealias MMMap = prctl_mm_map
