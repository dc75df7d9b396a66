import CheckpointImage
import Glibc
import LinuxKit

/// Which descriptor holds each watched file. epoll keys a watch by file and
/// the number it was added under; a program may close that number (the
/// file stays watched while another descriptor holds it) or reuse it for
/// another file, so the number alone would watch nothing, or the wrong
/// file, after restart. kcmp(KCMP_EPOLL_TFD) tells whether a descriptor
/// holds a watch's file; fdinfo's inode narrows the candidates.
enum EpollTargets {
    struct Found {
        /// The watches, each with the descriptor holding its file where that is not its own number.
        var watches: [EpollRecord.Watch]
        /// Watches whose file no descriptor of the process holds (their numbers).
        var unheld: [UInt64]
    }

    /// `inodes`: each watch's "ino:" from fdinfo, in the same order as `watches`.
    static func find(pid: pid_t, epoll: Int32, watches: [EpollRecord.Watch], inodes: [UInt64]) -> Found {
        var found = Found(watches: [], unheld: [])
        var byInode: [UInt64: [Int32]]?
        var seen: [UInt64: UInt32] = [:]
        for (w, inode) in zip(watches, inodes) {
            // The kernel finds a watch by number and by rank among the watches under that number.
            let rank = seen[w.fd, default: 0]
            seen[w.fd] = rank + 1
            let slot = Slot(epoll: UInt32(epoll), fd: UInt32(truncatingIfNeeded: w.fd), rank: rank)
            switch holds(pid, Int32(truncatingIfNeeded: w.fd), slot) {
            case .yes:
                found.watches.append(w)
                continue
            case .cannotTell:
                found.watches.append(w)  // no kcmp here: the number, as before
                continue
            case .no:
                break
            }
            if byInode == nil { byInode = descriptorsByInode(pid) }
            var moved = w
            moved.source = byInode?[inode]?.first { holds(pid, $0, slot) == .yes }.map { UInt64($0) }
            if moved.source == nil { found.unheld.append(w.fd) } else { found.watches.append(moved) }
        }
        return found
    }

    /// struct kcmp_epoll_slot: the epoll descriptor, the watch's number, its rank under that number.
    private struct Slot { var epoll: UInt32; var fd: UInt32; var rank: UInt32 }

    private enum Answer { case yes, no, cannotTell }

    private static func holds(_ pid: pid_t, _ fd: Int32, _ slot: Slot) -> Answer {
        var s = slot
        let r = withUnsafeMutablePointer(to: &s) { p in
            Result { try rawSyscall("kcmp", NR.kcmp, Int(pid), Int(pid), 7 /* KCMP_EPOLL_TFD */, Int(fd), Int(bitPattern: p)) }
        }
        switch r {
        case .success(let v): return v == 0 ? .yes : .no
        case .failure(let e as SystemCallError) where e.errno == .badFileDescriptor || e.errno == .noSuchFileOrDirectory: return .no
        case .failure: return .cannotTell
        }
    }

    private static func descriptorsByInode(_ pid: pid_t) -> [UInt64: [Int32]] {
        var map: [UInt64: [Int32]] = [:]
        for fd in (try? Sys.numericEntries("/proc/\(pid)/fd")) ?? [] {
            var st = stat()
            if stat("/proc/\(pid)/fd/\(fd)", &st) == 0 { map[UInt64(st.st_ino), default: []].append(fd) }
        }
        return map
    }
}
