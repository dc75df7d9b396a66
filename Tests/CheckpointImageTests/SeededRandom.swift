import XCTest

/// A test's random numbers from a seed it prints (SWIFTCR_SEED reruns it).
struct SeededRandom {
    let seed: UInt64
    private var state: UInt64

    init(_ name: String) {
        seed = UInt64(ProcessInfo.processInfo.environment["SWIFTCR_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        state = seed
        print("\(name) seed \(seed) (rerun with SWIFTCR_SEED=\(seed))")
    }

    /// The next number (53 bits of a 64-bit LCG step).
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state >> 11
    }

    /// The next number below `bound` (> 0).
    mutating func next(_ bound: UInt64) -> UInt64 { next() % bound }
}
