// FoundationEssentials, not Foundation: pam_xos.so carries its own copy, and
// two full Foundations (NSString bridging) clash in a Swift host process.
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Pool account leases, as LCMAPS's gridmapdir: one file per pool account
/// in the lease directory, and a hard link to it named after the holder
/// (URL-encoded GUID or DN). link(2) fails if the name exists, so two
/// processes leasing at once never get the same account; the link count
/// (2) tells which accounts are taken.
public struct LeaseDirectory {
    public let path: String

    public init(path: String) { self.path = path }

    static func holderFile(_ holder: String) -> String {
        "%" + holder.utf8.map { b -> String in
            let c = Character(UnicodeScalar(b))
            return (c.isLetter || c.isNumber || c == "-" || c == "." || c == "_") && b < 128 ? String(c) : "%" + hex2(b).uppercased()
        }.joined()
    }

    /// Makes sure every account file of the pool exists.
    func prepare(_ pool: MappingPolicy.Pool) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for k in 0..<pool.count {
            let f = "\(path)/\(pool.prefix)\(pad3(k + 1))"
            let fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd) }
        }
    }

    /// The account leased to `holder`, leasing a free one of `pool` if it has none.
    public func lease(_ pool: MappingPolicy.Pool, for holder: String) throws -> String {
        if let existing = try account(of: holder) { return existing }
        try prepare(pool)
        let link = "\(path)/\(Self.holderFile(holder))"
        // Two holders that link the same free account at once both see a
        // link count of 3 and both let go of it: each then scans again from
        // the start after a short random wait (going on past it would leave
        // that account free behind both, and the last holder would find the
        // pool exhausted while an account is free).
        var sawFree = false
        for round in 0..<Self.rounds {
            sawFree = false
            var contended = false
            for k in 0..<pool.count {
                let name = "\(pool.prefix)\(pad3(k + 1))"
                var st = stat()
                guard stat("\(path)/\(name)", &st) == 0, st.st_nlink == 1 else { continue }
                sawFree = true
                if Glibc.link("\(path)/\(name)", link) == 0 {
                    // Someone may have taken this account between stat and link: the link count says.
                    if stat("\(path)/\(name)", &st) == 0 && st.st_nlink == 2 { return name }
                    unlink(link)
                    contended = true
                    break
                }
                if errno == EEXIST { return try account(of: holder) ?? name }
            }
            guard sawFree else { break }
            if contended { usleep(useconds_t(UInt32.random(in: 50...2_000) * UInt32(min(round + 1, 8)))) }
        }
        if sawFree { throw XOSError("pool \(pool.name): no free account could be taken in \(Self.rounds) tries (others leasing at once)") }
        throw XOSError("pool \(pool.name) is exhausted (\(pool.count) accounts leased)")
    }

    /// Scans of the pool one lease may make while others contend for the same accounts.
    static let rounds = 64

    /// The account a holder has leased, found by inode.
    public func account(of holder: String) throws -> String? {
        var st = stat()
        guard stat("\(path)/\(Self.holderFile(holder))", &st) == 0 else { return nil }
        return try leases().first { $0.inode == st.st_ino && !$0.name.hasPrefix("%") }?.name
    }

    /// Undoes holderFile's %XX escapes.
    static func decoded(_ s: String) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func release(_ holder: String) -> Bool { unlink("\(path)/\(Self.holderFile(holder))") == 0 }

    /// (account, holder) pairs of the leased accounts.
    public func list() throws -> [(account: String, holder: String)] {
        let all = try leases()
        return all.filter { $0.name.hasPrefix("%") }.compactMap { h -> (account: String, holder: String)? in
            guard let a = all.first(where: { $0.inode == h.inode && !$0.name.hasPrefix("%") }) else { return nil }
            return (a.name, Self.decoded(String(h.name.dropFirst())))
        }.sorted { $0.account < $1.account }
    }

    func leases() throws -> [(name: String, inode: ino_t)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.compactMap { n in
            var st = stat()
            return stat("\(path)/\(n)", &st) == 0 ? (n, st.st_ino) : nil
        }
    }
}
