/// Everything that can be wrong with an image, each naming what and where.
public enum ImageError: Error, CustomStringConvertible, Equatable {
    case notAnImage(found: String)
    case unsupportedVersion(image: String, reader: String)
    case truncated(offset: UInt64, expected: String)
    case checksum(section: String, offset: UInt64)
    case malformed(what: String, offset: UInt64)
    case unknownRequiredSection(type: UInt32, offset: UInt64)
    /// An I/O failure; `errno` is the system's code (EIO when there is none).
    case io(String, errno: Int32 = 5)

    /// The errno a command exits with: the system's code for an I/O
    /// failure (EISDIR, EBADF...), EINVAL for an image that is not sound.
    public var errnoCode: Int32 {
        if case .io(_, let code) = self { return code }
        return 22
    }

    public var description: String {
        switch self {
        case .notAnImage(let found):
            return "not a swiftcr image (magic \(found))"
        case .unsupportedVersion(let image, let reader):
            return "image format \(image) is newer than this swiftcr reads (\(reader)); use a newer swiftcr"
        case .truncated(let offset, let expected):
            return "image truncated at byte \(offset): expected \(expected)"
        case .checksum(let section, let offset):
            return "checksum mismatch in \(section) section at byte \(offset): the image is corrupt"
        case .malformed(let what, let offset):
            return "malformed image at byte \(offset): \(what)"
        case .unknownRequiredSection(let type, let offset):
            return "unknown required section type \(type) at byte \(offset): the image needs a newer swiftcr"
        case .io(let message, _):
            return message
        }
    }
}
