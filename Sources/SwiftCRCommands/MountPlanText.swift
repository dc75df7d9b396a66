import CheckpointImage

/// How inspect words a saved mount's plan (SavedMount.Plan).
enum MountPlanText {
    /// A short name, for JSON.
    static func name(_ plan: SavedMount.Plan) -> String {
        switch plan {
        case .inherited: return "inherited"
        case .bindFrom: return "bind"
        case .bindHost: return "bind-host"
        case .bindNamespace: return "bind-namespace"
        case .fresh: return "new"
        case .unsupported: return "left-out"
        }
    }

    /// A phrase, for the text listing.
    static func describe(_ m: SavedMount) -> String {
        let flags = m.flags & 1 != 0 ? " (read-only)" : ""
        switch m.plan {
        case .inherited: return "as cr_restart's" + flags
        case .bindFrom(let id, let path): return "a bind of mount \(id)\(path.isEmpty ? "" : " at \(path)")" + flags
        case .bindHost(let path): return "a bind of \(path) outside" + flags
        case .bindNamespace(let ns, let id, let path): return "a bind of mount \(id) of mount ns \(ns)\(path.isEmpty ? "" : " at \(path)")" + flags
        case .fresh:
            let bytes = m.files.reduce(0) { $0 + ($1.kind == .regular ? $1.data.count : 0) }
            return "made anew" + (m.files.isEmpty ? "" : " with \(m.files.count) files (\(bytes) bytes)") + flags
        case .unsupported: return "left out (seen nowhere else)"
        }
    }
}
