import Glibc
import LinuxKit

/// Finds the earlier descriptor of a process that is the same open file as
/// a new one (a dup). kcmp orders open files, so each inode keeps its
/// distinct open files sorted and a descriptor costs a binary search, not
/// a kcmp against every earlier one (900 dups of /dev/null took 400,000).
struct OpenFileIndex {
    let pid: pid_t
    /// Per inode: the first descriptor of each distinct open file, in kcmp's order.
    private var firsts: [[UInt64]: [Int32]] = [:]

    init(pid: pid_t) { self.pid = pid }

    /// The first descriptor seen of the open file behind `fd`, or nil when
    /// `fd` is the first (it is remembered).
    mutating func first(sameAs fd: Int32, inode key: [UInt64]) -> Int32? {
        var list = firsts[key, default: []]
        var low = 0, high = list.count
        while low < high {
            let mid = (low + high) / 2
            switch compare(fd, list[mid]) {
            case 0: return list[mid]
            case 1: high = mid
            case 2: low = mid + 1
            default:
                // No ordering from this kernel: compare with each.
                if let same = list.first(where: { compare(fd, $0) == 0 }) { return same }
                low = list.count
                high = low
            }
        }
        list.insert(fd, at: low)
        firsts[key] = list
        return nil
    }

    /// kcmp(KCMP_FILE): 0 same open file, 1 `a` orders first, 2 `b` does, 3 unordered.
    private func compare(_ a: Int32, _ b: Int32) -> Int {
        (try? rawSyscall("kcmp", NR.kcmp, Int(pid), Int(pid), 0, Int(a), Int(b))) ?? 3
    }
}
