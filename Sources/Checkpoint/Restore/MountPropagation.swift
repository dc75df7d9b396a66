import CheckpointImage
import Glibc
import LinuxKit

/// Peer groups and slaves of a rebuilt mount namespace, set once every
/// mount is made (so nothing propagated while they were made), through a
/// descriptor of each mount (O_PATH, taken right after it was made: a mount
/// covered by a later one is reached all the same).
/// - every mount not tied to ours is made private first (MOVE_MOUNT_SET_GROUP
///   takes only private targets);
/// - per peer group, parents' groups first: the mount whose root holds the
///   others' leads. With a master group in the namespace it joins that
///   group (MOVE_MOUNT_SET_GROUP from a mount of it whose root holds its
///   own), turns slave, then shared again: a group of its own, still
///   receiving. The others join the leader's group, master included;
/// - a slave of a group and of no group of its own joins it, then turns slave;
/// - unbindable ones last.
/// A group that a namespace made before also has (MadeNamespaceMounts) is
/// joined instead of made, and so is a master group only such a namespace has.
/// What cannot be made is a warning, as for the mounts themselves.
struct MountPropagation {
    let saved: [SavedMount]
    /// Saved mount id -> an O_PATH descriptor of it in the stub.
    let handles: [Int32: UInt64]
    let session: RemoteSession
    /// The mounts of the tree's namespaces made before.
    let others: MadeNamespaceMounts?
    private(set) var warnings: [String] = []

    init(saved: [SavedMount], handles: [Int32: UInt64], session: RemoteSession, others: MadeNamespaceMounts? = nil) {
        self.saved = saved
        self.handles = handles
        self.session = session
        self.others = others
    }

    /// Whether an image's namespace says which mounts were peers (images before 2026-12-05 do not).
    static func knowsGroups(_ saved: [SavedMount]) -> Bool {
        saved.contains { $0.peerGroup != 0 || $0.masterGroup != 0 }
    }

    mutating func apply() throws {
        let mine = saved.filter { $0.hostPeer == 0 && handles[$0.id] != nil }
        for m in mine { try set(m, MS_PRIVATE) }
        var done: Set<UInt64> = []
        var groups = Dictionary(grouping: mine.filter { $0.peerGroup != 0 }, by: \.peerGroup)
        // A group whose master is one of ours comes after that group.
        while !groups.isEmpty {
            let ready = groups.keys.sorted().filter { g in
                let master = groups[g]?.first { $0.masterGroup != 0 }?.masterGroup ?? 0
                return master == 0 || done.contains(master) || groups[master] == nil
            }
            let next = ready.first ?? groups.keys.sorted()[0]  // (no cycle is possible; taken anyway)
            if let members = groups.removeValue(forKey: next) { try join(members) }
            done.insert(next)
        }
        for s in mine where s.peerGroup == 0 && s.masterGroup != 0 {
            if try receive(s, from: s.masterGroup) { try set(s, MS_SLAVE) }
        }
        for m in mine where m.propagation & UInt64(MS_UNBINDABLE) != 0 { try set(m, MS_UNBINDABLE) }
    }

    /// One peer group: its leader made (a slave of its master, then) shared, the rest joined to it.
    private mutating func join(_ members: [SavedMount]) throws {
        guard let leader = members.first(where: { l in members.allSatisfy { Self.holds(l, $0) } }) ?? members.first else { return }
        // The group is another namespace's too: joined (with its master, if the mount joined from has one).
        if try joinOutside(leader.peerGroup, leader) != true {
            if leader.masterGroup != 0, try receive(leader, from: leader.masterGroup) { try set(leader, MS_SLAVE) }
            try set(leader, MS_SHARED)
        }
        for m in members where m.id != leader.id {
            guard Self.holds(leader, m) else {
                warnings.append("\(m.mountPoint): its root \(m.root) is not inside \(leader.root) of its peer \(leader.mountPoint); it is left private")
                continue
            }
            try setGroup(from: leader, to: m)
        }
    }

    /// `m` made a peer of a mount of `group` whose root holds its own; false (a warning) if none is ours.
    private mutating func receive(_ m: SavedMount, from group: UInt64) throws -> Bool {
        let sources = saved.filter { $0.peerGroup == group && handles[$0.id] != nil && $0.hostPeer == 0 }
        guard let source = sources.first(where: { Self.holds($0, m) }) else {
            // A group of another of the tree's namespaces (the checkpointer's is kept by hostPeer).
            if let joined = try joinOutside(group, m) { return joined }
            if !sources.isEmpty { warnings.append("\(m.mountPoint): no mount of the group it received from holds its root \(m.root); it does not receive any more") }
            return false
        }
        return try setGroup(from: source, to: m)
    }

    /// `m` joined to `group` as a namespace made before has it; nil when none has a mount of it that holds `m`'s root.
    private mutating func joinOutside(_ group: UInt64, _ m: SavedMount) throws -> Bool? {
        guard let others, others.knows(group), let handle = handles[m.id],
              let e = try others.join(group, to: m, handle: handle, session: session) else { return nil }
        if e != 0 { warnings.append("\(m.mountPoint): it could not join its peer group in another namespace of the tree (\(errorText(e)))") }
        return e == 0
    }

    /// The same filesystem, and `a`'s root holds `b`'s (MOVE_MOUNT_SET_GROUP's rule).
    static func holds(_ a: SavedMount, _ b: SavedMount) -> Bool {
        a.device == b.device && (a.root == "/" || b.root == a.root || b.root.hasPrefix(a.root.hasSuffix("/") ? a.root : a.root + "/"))
    }

    @discardableResult
    private mutating func setGroup(from: SavedMount, to: SavedMount) throws -> Bool {
        guard let f = handles[from.id], let t = handles[to.id] else { return false }
        let empty = try session.putString("")
        let r = try session.raw(NR.move_mount, f, empty, t, empty,
                                UInt64(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH | MOVE_MOUNT_SET_GROUP))
        if r != 0 { warnings.append("\(to.mountPoint): it could not join the peer group of \(from.mountPoint) (\(errorText(Int32(-r))))") }
        return r == 0
    }

    /// mount_setattr(fd, "", AT_EMPTY_PATH) with a propagation type (this mount alone).
    private mutating func set(_ m: SavedMount, _ type: Int) throws {
        guard let fd = handles[m.id] else { return }
        let r = try session.mountSetattrRaw(fd, propagation: type)
        if r != 0 { warnings.append("\(m.mountPoint): its propagation could not be set (\(errorText(Int32(-r))))") }
    }
}
