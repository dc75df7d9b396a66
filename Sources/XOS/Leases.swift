import Foundation

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
            return (c.isLetter || c.isNumber || c == "-" || c == "." || c == "_") && b < 128 ? String(c) : String(format: "%%%02X", b)
        }.joined()
    }

    /// Makes sure every account file of the pool exists.
    func prepare(_ pool: MappingPolicy.Pool) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for k in 0..<pool.count {
            let f = "\(path)/\(pool.prefix)\(String(format: "%03d", k + 1))"
            let fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd) }
        }
    }

    /// The account leased to `holder`, leasing a free one of `pool` if it has none.
    public func lease(_ pool: MappingPolicy.Pool, for holder: String) throws -> String {
        if let existing = try account(of: holder) { return existing }
        try prepare(pool)
        let link = "\(path)/\(Self.holderFile(holder))"
        for k in 0..<pool.count {
            let name = "\(pool.prefix)\(String(format: "%03d", k + 1))"
            var st = stat()
            guard stat("\(path)/\(name)", &st) == 0, st.st_nlink == 1 else { continue }
            if Glibc.link("\(path)/\(name)", link) == 0 {
                // Someone may have taken this account between stat and link: the link count says.
                if stat("\(path)/\(name)", &st) == 0 && st.st_nlink == 2 { return name }
                unlink(link)
                continue
            }
            if errno == EEXIST { return try account(of: holder) ?? name }
        }
        throw XOSError("pool \(pool.name) is exhausted (\(pool.count) accounts leased)")
    }

    /// The account a holder has leased, found by inode.
    public func account(of holder: String) throws -> String? {
        var st = stat()
        guard stat("\(path)/\(Self.holderFile(holder))", &st) == 0 else { return nil }
        return try leases().first { $0.inode == st.st_ino && !$0.name.hasPrefix("%") }?.name
    }

    public func release(_ holder: String) -> Bool { unlink("\(path)/\(Self.holderFile(holder))") == 0 }

    /// (account, holder) pairs of the leased accounts.
    public func list() throws -> [(account: String, holder: String)] {
        let all = try leases()
        return all.filter { $0.name.hasPrefix("%") }.compactMap { h in
            guard let a = all.first(where: { $0.inode == h.inode && !$0.name.hasPrefix("%") }) else { return nil }
            let encoded = String(h.name.dropFirst())
            return (a.name, encoded.removingPercentEncoding ?? encoded)
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
