import CheckpointImage
import Glibc
import LinuxKit

/// A restored network namespace's TUN/TAP devices, made by the stub that
/// made the namespace: each with its index (TUNSETIFINDEX, where free), name
/// and flags, owner and group, address, MTU and up flag, and persistent, so
/// it outlives this descriptor until its files are back (TunFiles drops the
/// persistence of a device that had none).
enum TunDeviceMaker {
    static func make(_ devices: [TunDevice], in s: RemoteSession) throws {
        guard !devices.isEmpty else { return }
        let socket = try s.call("socket(tun devices)", NR.socket, UInt64(AF_INET), UInt64(Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)), 0)
        defer { s.closeQuietly(socket) }
        for d in devices { try make(d, socket: socket, in: s) }
    }

    private static func make(_ d: TunDevice, socket: UInt64, in s: RemoteSession) throws {
        var fd = try s.open("/dev/net/tun", flags: UInt64(O_RDWR | O_CLOEXEC))
        defer { s.closeQuietly(fd) }
        // Past the path open() puts at the start of the scratch area.
        let at = try s.put(request(d.name) { $0[16] = UInt8(d.flags & TunLinks.deviceFlags & 0xff); $0[17] = UInt8((d.flags & TunLinks.deviceFlags) >> 8) }, at: 128)
        // Programs keep interface indexes (routes, SO_BINDTOIFINDEX); a taken one leaves the kernel's choice.
        let madeAtIndex = try d.index > 0 && s.raw(NR.ioctl, fd, TunLinks.setIfIndex, s.put(value: UInt32(d.index), at: 64)) == 0
            && s.raw(NR.ioctl, fd, TunLinks.setIff, at) == 0
        if !madeAtIndex {
            if d.index > 0 {
                s.closeQuietly(fd)
                fd = try s.open("/dev/net/tun", flags: UInt64(O_RDWR | O_CLOEXEC))
            }
            try s.call("ioctl(TUNSETIFF) making \(d.name)", NR.ioctl, fd, TunLinks.setIff, at)
        }
        if d.owner >= 0 { try s.call("ioctl(TUNSETOWNER) of \(d.name)", NR.ioctl, fd, TunLinks.setOwner, UInt64(d.owner)) }
        if d.group >= 0 { try s.call("ioctl(TUNSETGROUP) of \(d.name)", NR.ioctl, fd, TunLinks.setGroup, UInt64(d.group)) }
        try s.call("ioctl(TUNSETPERSIST) of \(d.name)", NR.ioctl, fd, TunLinks.setPersist, 1)
        if d.flags & TunLinks.tap != 0 && d.address.count == 6 {
            let hw = try s.put(request(d.name) { $0[16] = 1; $0.replaceSubrange(18..<24, with: d.address) })  // ARPHRD_ETHER, then the address
            try s.call("ioctl(SIOCSIFHWADDR) of \(d.name)", NR.ioctl, fd, TunLinks.setHardwareAddress, hw)
        }
        if d.mtu > 0 {
            let mtu = try s.put(request(d.name) { r in r.replaceSubrange(16..<20, with: withUnsafeBytes(of: d.mtu.littleEndian) { Array($0) }) })
            try s.call("ioctl(SIOCSIFMTU) of \(d.name)", NR.ioctl, socket, TunLinks.setMTU, mtu)
        }
        if d.up {
            let flags = try s.put(request(d.name))
            try s.call("ioctl(SIOCGIFFLAGS) of \(d.name)", NR.ioctl, socket, TunLinks.getFlags, flags)
            var bytes = try s.memory.read(address: flags + 16, count: 2)
            bytes[0] |= 1  // IFF_UP
            try s.memory.write(address: flags + 16, bytes: bytes)
            try s.call("ioctl(SIOCSIFFLAGS) of \(d.name)", NR.ioctl, socket, TunLinks.setFlags, flags)
        }
    }

    /// A struct ifreq (40 bytes) naming `name`, its union filled by `fill`.
    private static func request(_ name: String, _ fill: (inout [UInt8]) -> Void = { _ in }) -> [UInt8] {
        var r = [UInt8](repeating: 0, count: 40)
        r.replaceSubrange(0..<min(15, name.utf8.count), with: Array(name.utf8.prefix(15)))
        fill(&r)
        return r
    }
}
