import CheckpointImage
import Glibc
import LinuxKit

/// Open /dev/net/tun files (VPN clients, slirp4netns, QEMU's networking):
/// the device each is attached to and whether its queue is detached, asked
/// of the file itself (TUNGETIFF on our copy of it; EBADFD: not attached
/// yet). The devices of a saved network namespace are made again with it
/// (TunDeviceMaker, persistent until their files are back); a file is
/// opened in its process and attached by name, its queue detached again,
/// and a device that was not persistent loses the persistence the restore
/// gave it, so it goes away with its last file as before.
enum TunFiles: FileKind {
    static let restores: [FileDescriptorState.Kind] = [.tun]
    /// Character device 10:200 (misc, TUN_MINOR) as st_rdev encodes it.
    static let device: UInt64 = 10 << 8 | 200

    static func claims(_ d: OpenDescriptor) -> Bool {
        d.mode == S_IFCHR && UInt64(d.st.st_rdev) == device
    }

    static func collect(_ d: OpenDescriptor, into state: inout FileDescriptorState, in context: FileDumpContext) throws {
        state.kind = .tun
        let ours = try SocketBorrower.borrowOnce(pid: d.pid, fd: d.fd)
        defer { close(ours) }
        var request = [UInt8](repeating: 0, count: 40)  // struct ifreq: name[16], then ifr_flags (short)
        let result = request.withUnsafeMutableBytes { Syscall.raw(NR.ioctl, Int(ours), Int(TunLinks.getIff), Int(bitPattern: $0.baseAddress)) }
        if result < 0 {
            guard errno == EBADFD else { throw CheckpointError(errno: errno, "fd \(d.fd) (/dev/net/tun): TUNGETIFF") }
            state.payload = .tun(TunFileRecord(device: "", flags: 0, detached: false))
            return
        }
        let name = String(decoding: request[0..<16].prefix { $0 != 0 }, as: UTF8.self)
        let flags = UInt32(request[16]) | UInt32(request[17]) << 8
        // TUNGETIFF's IFF_NOFILTER is IFF_NO_PI's bit: the device's flags come from rtnetlink.
        guard let device = try context.shared.tunLinks(of: d.pid).first(where: { $0.name == name }) else {
            throw CheckpointError(ENODEV, "fd \(d.fd) (/dev/net/tun): its device \(name) is not in the network namespace of process \(d.pid)")
        }
        state.payload = .tun(TunFileRecord(device: name, flags: device.flags & TunDevice.flagMask, detached: flags & TunLinks.detachQueue != 0))
    }

    static func restore(_ f: FileDescriptorState, in c: FileRestoreContext) throws -> RestoredFile {
        guard let r = f.tun else { throw CheckpointError(EINVAL, "fd \(f.fd): tun record missing") }
        let s = c.session
        let flags = UInt64(O_RDWR) | UInt64(f.flags) & UInt64(O_NONBLOCK)
        // The clone device by its usual name (the path a container gave it may not be ours).
        let opened = try s.openRaw("/dev/net/tun", flags: flags)
        guard opened >= 0 else { return .closed("fd \(f.fd) (/dev/net/tun): open: \(errorText(Int32(-opened)))") }
        let fd = UInt64(opened)
        guard !r.device.isEmpty else { return .remote(fd) }
        var request = [UInt8](repeating: 0, count: 40)
        request.replaceSubrange(0..<r.device.utf8.count, with: Array(r.device.utf8))
        let deviceFlags = r.flags & TunLinks.deviceFlags
        request[16] = UInt8(deviceFlags & 0xff)
        request[17] = UInt8(deviceFlags >> 8)
        let at = try s.put(request)
        let attached = try s.raw(NR.ioctl, fd, TunLinks.setIff, at)
        if attached < 0 {
            s.closeQuietly(fd)
            return .closed("fd \(f.fd) (/dev/net/tun): attaching to tun device \(r.device): \(errorText(Int32(-attached)))")
        }
        if r.detached {
            var detach = [UInt8](repeating: 0, count: 40)
            detach[16] = UInt8(TunLinks.detachQueue & 0xff)
            detach[17] = UInt8(TunLinks.detachQueue >> 8)
            try s.call("ioctl(TUNSETQUEUE, IFF_DETACH_QUEUE) on \(r.device)", NR.ioctl, fd, TunLinks.setQueue, try s.put(detach))
        }
        // Made persistent by the restore (its namespace's devices) or by this attach: as it was.
        if r.flags & TunLinks.persist == 0 {
            try s.call("ioctl(TUNSETPERSIST, 0) on \(r.device)", NR.ioctl, fd, TunLinks.setPersist, 0)
        }
        return .remote(fd)
    }

    static func describe(_ f: FileDescriptorState) -> String {
        guard let r = f.tun else { return "" }
        if r.device.isEmpty { return " not attached" }
        return " \(r.device)\(r.detached ? ", queue detached" : "")"
    }
}
