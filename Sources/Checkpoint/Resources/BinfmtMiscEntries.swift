import CheckpointImage
import Glibc
import LinuxKit

/// A binfmt_misc mount's entries (zdtm binfmt_misc): an instance lives
/// as long as a mount of it does, so the last mount going with its
/// namespace takes every registration along. Saved with the mount as its
/// files (each entry file as the kernel prints it, and "status"), and
/// registered again in the new mount by writing "register".
enum BinfmtMiscEntries {
    /// The entry files and "status" of the binfmt_misc mount at `top` (a path that reaches it).
    static func save(top: String) -> [SavedFile] {
        guard let dir = opendir(top) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." && name != "register" { names.append(name) }
        }
        return names.sorted().compactMap { name in
            guard let bytes = try? Sys.readFile("\(top)/\(name)") else { return nil }
            var f = SavedFile(path: name, kind: .regular, mode: 0o644, uid: 0, gid: 0, modified: (0, 0))
            f.data = bytes
            return f
        }
    }

    /// Registers the saved entries in the binfmt_misc mount at `top`,
    /// disables those that were, and the instance if it was; what fails is a warning.
    static func restore(_ files: [SavedFile], top: String) -> [String] {
        var warnings: [String] = []
        for f in files where f.path != "status" {
            guard let line = registration(name: Array(f.path.utf8), entry: f.data) else {
                warnings.append("binfmt_misc entry \(f.path): its saved text cannot be registered again")
                continue
            }
            if let e = write(line, to: "\(top)/register"), e != EEXIST {
                warnings.append("binfmt_misc entry \(f.path) could not be registered (\(String(cString: strerror(e))))")
                continue
            }
            if f.data.starts(with: Array("disabled".utf8)), let e = write(Array("0".utf8), to: "\(top)/\(f.path)") {
                warnings.append("binfmt_misc entry \(f.path) could not be disabled (\(String(cString: strerror(e))))")
            }
        }
        if let status = files.first(where: { $0.path == "status" }), status.data.starts(with: Array("disabled".utf8)),
           let e = write(Array("0".utf8), to: "\(top)/status") {
            warnings.append("binfmt_misc could not be disabled (\(String(cString: strerror(e))))")
        }
        return warnings
    }

    /// The "register" line that makes an entry the kernel printed as `entry`
    /// (enabled/disabled, interpreter, flags, then offset/magic/mask or
    /// extension). Bytes, not text: an extension or path may be any bytes.
    static func registration(name: [UInt8], entry: [UInt8]) -> [UInt8]? {
        var fields: [String: [UInt8]] = [:]
        for line in entry.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            let space = line.firstIndex(of: UInt8(ascii: " ")) ?? line.endIndex
            let key = String(decoding: line[line.startIndex..<space], as: UTF8.self)
            fields[key] = space < line.endIndex ? Array(line[(space + 1)...]) : []
        }
        guard let interpreter = fields["interpreter"], !interpreter.isEmpty else { return nil }
        let flags = fields["flags:"] ?? []
        guard flags.allSatisfy({ Array("POCF".utf8).contains($0) }) else { return nil }
        var parts: [[UInt8]]
        if let ext = fields["extension"] {
            parts = [name, Array("E".utf8), [], ext.first == UInt8(ascii: ".") ? Array(ext.dropFirst()) : ext, [], interpreter, flags]
        } else if let magic = fields["magic"].flatMap(hexBytes), let offset = fields["offset"].flatMap({ Int(String(decoding: $0, as: UTF8.self)) }) {
            let mask = fields["mask"].flatMap(hexBytes) ?? []
            guard !magic.isEmpty, mask.isEmpty || mask.count == magic.count else { return nil }
            parts = [name, Array("M".utf8), Array(String(offset).utf8), escaped(magic), escaped(mask), interpreter, flags]
        } else {
            return nil
        }
        // The first byte is the separator: one no field holds.
        guard let separator = Array(":#|!,;%@".utf8).first(where: { s in !parts.contains { $0.contains(s) } }) else { return nil }
        return [separator] + Array(parts.joined(separator: [separator]))
    }

    private static func hexBytes(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for k in stride(from: 0, to: text.count, by: 2) {
            guard let byte = UInt8(String(decoding: text[k..<(k + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }

    private static func escaped(_ bytes: [UInt8]) -> [UInt8] {
        Array(bytes.map { "\\x" + (($0 < 16) ? "0" : "") + String($0, radix: 16) }.joined().utf8)
    }

    /// Writes `bytes` in one write(2); the errno on failure.
    private static func write(_ bytes: [UInt8], to path: String) -> Int32? {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return Glibc.write(fd, bytes, bytes.count) == bytes.count ? nil : errno
    }
}
