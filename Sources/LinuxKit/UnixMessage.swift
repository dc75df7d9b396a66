import Glibc

/// sendmsg on a UNIX socket with descriptors attached (SCM_RIGHTS).
public enum UnixMessage {
    /// Sends `bytes` with `descriptors` (none: a plain send), to the raw
    /// sockaddr `name` if given. The bytes sent, or -1 with errno set.
    public static func send(_ bytes: [UInt8], descriptors: [Int32], from socket: Int32, name: [UInt8]? = nil,
                            flags: Int32 = Int32(MSG_NOSIGNAL)) -> Int {
        let header = MemoryLayout<cmsghdr>.size
        // CMSG_SPACE: header plus the descriptors, rounded up to 8.
        var control = [UInt8](repeating: 0, count: descriptors.isEmpty ? 0 : (header + 4 * descriptors.count + 7) & ~7)
        if !descriptors.isEmpty {
            control.withUnsafeMutableBytes { c in
                c.storeBytes(of: header + 4 * descriptors.count, toByteOffset: 0, as: Int.self)  // cmsg_len (size_t)
                c.storeBytes(of: SOL_SOCKET, toByteOffset: 8, as: Int32.self)
                c.storeBytes(of: Int32(SCM_RIGHTS), toByteOffset: 12, as: Int32.self)
                for (k, fd) in descriptors.enumerated() { c.storeBytes(of: fd, toByteOffset: header + 4 * k, as: Int32.self) }
            }
        }
        var data = bytes
        var to = name ?? []
        return data.withUnsafeMutableBytes { d in
            to.withUnsafeMutableBytes { n in
                control.withUnsafeMutableBytes { ctl in
                    var iov = iovec(iov_base: d.baseAddress, iov_len: d.count)
                    return withUnsafeMutablePointer(to: &iov) { iovp -> Int in
                        var msg = msghdr()
                        if !n.isEmpty {
                            msg.msg_name = n.baseAddress
                            msg.msg_namelen = socklen_t(n.count)
                        }
                        msg.msg_iov = iovp
                        msg.msg_iovlen = 1
                        if !ctl.isEmpty {
                            msg.msg_control = ctl.baseAddress
                            msg.msg_controllen = ctl.count
                        }
                        return sendmsg(socket, &msg, flags)
                    }
                }
            }
        }
    }
}
