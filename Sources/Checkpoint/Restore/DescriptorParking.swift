/// Where the restorer keeps its own descriptors in a stub while it makes the
/// process's files (the stub's standard streams, the courier socket): on
/// numbers the process does not use, so installing its descriptors never
/// overwrites one, and below the stub's open-file limit, which dup3 enforces.
/// Just above the process's highest number where that fits; else the
/// highest free numbers under the limit (valgrind keeps its own descriptors
/// a few below its limit, so "above the highest" can be past it).
enum DescriptorParking {
    /// `count` distinct numbers, none in `used` and none below 3, all under
    /// `limit`; nil when there are not that many.
    static func slots(_ count: Int, used: Set<UInt64>, highest: UInt64, limit: UInt64) -> [UInt64]? {
        if highest < limit, limit - highest > UInt64(count) {
            return (1...UInt64(count)).map { highest + $0 }
        }
        var found: [UInt64] = []
        var n = limit
        while found.count < count && n > 3 {
            n -= 1
            if !used.contains(n) { found.append(n) }
        }
        return found.count == count ? found.reversed() : nil
    }
}
