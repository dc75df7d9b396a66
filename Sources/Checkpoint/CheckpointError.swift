import CheckpointImage
import Glibc
import LinuxKit

/// BLCR's error numbers (blcr_errcodes.h), which cr_checkpoint and cr_restart
/// turn into exit codes (`code & 0xFF`).
public enum BLCRCode {
    public static let tempFail: Int32 = 2354
    public static let permFail: Int32 = 2355
    public static let noSupport: Int32 = 2356
    public static let badArch: Int32 = 2359
    public static let ptraced: Int32 = 2360
    public static let ptracer: Int32 = 2361
    public static let restartAborted: Int32 = 2362
}

/// A failed checkpoint or restart: an errno-like code and one line for the user.
public struct CheckpointError: Error, CustomStringConvertible {
    public var code: Int32
    public var message: String

    public init(_ code: Int32, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// The process exit status BLCR's tools use: the low 8 bits of the code.
    public var exitCode: Int32 {
        let c = code & 0xFF
        return c == 0 ? 1 : c
    }
}

extension CheckpointError {
    /// The one translation of whatever a stage threw into the engine's error:
    /// a CheckpointError passes through; a failed system call keeps its
    /// errno; an image I/O error its errno, any other image problem
    /// `badImage` (EINVAL for an image being read, EIO for one being written).
    public init(_ error: Error, context: String, badImage: Int32 = EINVAL) {
        switch error {
        case let e as CheckpointError: self = e
        case let e as SystemCallError: self.init(e.errno.rawValue, "\(context): \(e)")
        case let e as ImageError:
            if case .io(_, let code) = e { self.init(code, "\(context): \(e)") } else { self.init(badImage, "\(context): \(e)") }
        default: self.init(EIO, "\(context): \(error)")
        }
    }
}

extension CheckpointError {
    /// A failed call: `what`, then the text of `errno`, which is the code.
    public init(errno code: Int32, _ what: String) {
        self.init(code, "\(what): \(errorText(code))")
    }
}
