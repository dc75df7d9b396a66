import CheckpointImage

/// The image as JSON, schema in docs/INSPECT-JSON.md (version 1).
enum ImageJSON {
    static func descriptor(_ f: FileDescriptorState) -> JSONValue {
        var fields: [(String, JSONValue)] = [("fd", .int(Int64(f.fd))), ("type", .string(f.typeName)), ("path", .string(f.path)),
                                             ("offset", .int(f.offset)), ("flags", .uint(UInt64(f.flags))), ("closeOnExec", .bool(f.closeOnExec))]
        if f.payload != .none { fields.append(("state", JSONValue(reflecting: f.payload))) }
        if !f.socketOptions.isEmpty { fields.append(("socketOptions", JSONValue(reflecting: f.socketOptions))) }
        if let o = f.owner { fields.append(("owner", JSONValue(reflecting: o))) }
        if let l = f.lease { fields.append(("lease", .string(["read", "write", "breaking to unlock", "breaking to read"][Int(min(l, 3))]))) }
        if f.inFlight { fields.append(("inFlight", .bool(true))) }
        if let ns = f.netNamespace { fields.append(("netNamespace", .int(Int64(ns)))) }
        return .object(fields)
    }

    static func document(_ image: LoadedImage) -> JSONValue {
        let inv = image.inventory
        let parts = image.version.split(separator: ".")
        return .object([
            ("schema", .int(1)),
            ("format", .object([("major", .int(Int64(parts.first.flatMap { Int($0) } ?? 0))), ("minor", .int(Int64(parts.dropFirst().first.flatMap { Int($0) } ?? 0)))])),
            ("writer", .string(inv.producer)),
            ("kernel", .string(inv.kernelRelease)),
            ("machine", .string(inv.machine)),
            ("hostname", .string(inv.hostname)),
            ("createdAt", .uint(inv.createdAt)),
            ("target", .int(Int64(inv.target))),
            ("imageID", .string(String(inv.imageID, radix: 16))),
            ("preDump", .bool(inv.preDump)),
            ("parent", inv.parent.map { l in
                .object([("path", .string(l.path)), ("imageID", .string(String(l.imageID, radix: 16))), ("indexChecksum", .uint(UInt64(l.indexChecksum)))])
            } ?? .null),
            ("pidNamespace", image.tree.ownPIDNamespace ? .array(image.tree.namespaceIDs.sorted { $0.key < $1.key }.map { id, inner in
                .object([("id", .int(Int64(id))), ("inside", .int(Int64(inner)))])
            }) : .null),
            ("timeNamespace", image.tree.timeOffsets.map { o in
                .object([("monotonic", .array([.int(o[0]), .int(o[1])])), ("boottime", .array([.int(o[2]), .int(o[3])])),
                         ("processes", .array(image.processes.filter(\.timeNamespace.own).map { .int(Int64($0.pid)) })),
                         ("childrenBornIn", .array(image.processes.filter(\.timeNamespace.children).map { .int(Int64($0.pid)) }))])
            } ?? .null),
            ("mountNamespaces", .array(image.tree.mountNamespaces.enumerated().map { k, ns in
                .object([("processes", .array(image.processes.filter { $0.mountNamespace == k + 1 }.map { .int(Int64($0.pid)) })),
                         ("ownRoot", .bool(ns.ownRoot)),
                         ("mounts", .array(ns.mounts.map { m in
                             .object([("mountPoint", .string(m.mountPoint)), ("fsType", .string(m.fsType)), ("source", .string(m.source)),
                                      ("root", .string(m.root)), ("plan", .string(MountPlanText.name(m.plan))), ("files", .int(Int64(m.files.count))),
                                      ("peerGroup", .int(Int64(m.peerGroup))), ("masterGroup", .int(Int64(m.masterGroup)))])
                         }))])
            })),
            ("cgroupNamespaces", .array(image.tree.cgroupNamespaces.enumerated().map { k, roots in
                .object([("processes", .array(image.processes.filter { $0.cgroupNamespace == k + 1 }.map { .int(Int64($0.pid)) })),
                         ("roots", cgroups(roots))])
            })),
            ("cgroupSettings", .array(image.tree.cgroupSettings.map(cgroupSettings))),
            ("userNamespaces", .array(image.tree.userNamespaces.enumerated().map { k, ns in
                func map(_ ranges: [UserNamespaceState.Range]) -> JSONValue {
                    .array(ranges.map { .object([("inside", .int(Int64($0.inside))), ("outside", .int(Int64($0.outside))), ("count", .int(Int64($0.count)))]) })
                }
                let members = image.processes.filter { $0.userNamespace == k + 1 }
                return .object([("processes", .array(members.map { .int(Int64($0.pid)) })),
                                ("uidMap", map(ns.uidMap)), ("gidMap", map(ns.gidMap)), ("setgroupsAllowed", .bool(ns.setgroupsAllowed)),
                                ("owner", .int(Int64(ns.owner))),
                                ("owns", .array(UserNamespaceState.ownedKinds(members.reduce(0) { $0 | $1.ownedByUserNamespace }).map { .string($0) }))])
            })),
            ("utsNamespaces", .array(image.tree.utsNamespaces.enumerated().map { k, ns in
                .object([("processes", .array(image.processes.filter { $0.utsNamespace == k + 1 }.map { .int(Int64($0.pid)) })),
                         ("hostname", .string(ns.hostname)), ("domainname", .string(ns.domainname))])
            })),
            ("ipcNamespaces", .array((0..<image.tree.ipcNamespaces).map { k in
                .object([("processes", .array(image.processes.filter { $0.ipcNamespace == k + 1 }.map { .int(Int64($0.pid)) })),
                         ("sysvObjects", .int(Int64(image.tree.sysvObjects.filter { $0.namespace == k + 1 }.count))),
                         ("settings", .array(image.tree.ipcSettings.filter { $0.namespace == k + 1 }.flatMap(\.values).map {
                             .string("\($0.path.split(separator: "/").joined(separator: "."))=\($0.value)")
                         }))])
            })),
            ("netNamespaces", .array(image.tree.netNamespaces.enumerated().map { k, ns in
                .object([("processes", .array(image.processes.filter { $0.netNamespace == k + 1 }.map { .int(Int64($0.pid)) })),
                         ("loopbackUp", .bool(ns.loopbackUp)), ("otherInterfaces", .array(ns.otherInterfaces.map { .string($0) })),
                         ("tunDevices", .array(ns.tunDevices.map { d in
                             .object([("name", .string(d.name)), ("index", .int(Int64(d.index))), ("flags", .int(Int64(d.flags))),
                                      ("owner", .int(d.owner)), ("group", .int(d.group)), ("mtu", .int(Int64(d.mtu))),
                                      ("address", .string(NetConfigText.hardware(d.address))), ("up", .bool(d.up)), ("master", .string(d.master))])
                         })),
                         ("devices", .array(ns.links.map { l in
                             .object([("name", .string(l.name)), ("index", .int(Int64(l.index))), ("kind", .string(l.kind)), ("mtu", .int(Int64(l.mtu))),
                                      ("address", .string(NetConfigText.hardware(l.address))), ("up", .bool(l.up)), ("master", .string(l.master)),
                                      ("peerNamespace", .int(Int64(l.peerNamespace))), ("peerIndex", .int(Int64(l.peerIndex))),
                                      ("peerName", .string(l.peerName)), ("peerMaster", .string(l.peerMaster)), ("peerUp", .bool(l.peerUp)),
                                      ("macvlanMode", .int(Int64(l.macvlanMode)))])
                         })),
                         ("firewall", .array(ns.firewall.map { .object([("kind", .string($0.kind)), ("rules", .string($0.text))]) })),
                         ("addresses", .array(ns.addresses.map { .string(NetConfigText.describe($0)) })),
                         ("routes", .array(ns.routes.map { .string(NetConfigText.describe($0)) })),
                         ("settings", .array(ns.sysctls.map { .string("net.\($0.path.split(separator: "/").joined(separator: "."))=\($0.value)") }))])
            })),
            ("processes", .array(image.processes.map { process($0, image) })),
            ("zombies", .array(image.zombies.map { z in
                .object([("pid", .int(Int64(z.pid))), ("ppid", .int(Int64(z.ppid))), ("waitStatus", .int(Int64(z.waitStatus)))])
            })),
        ])
    }

    static func process(_ p: ProcessState, _ image: LoadedImage) -> JSONValue {
        .object([
            ("pid", .int(Int64(p.pid))), ("ppid", .int(Int64(p.ppid))), ("pgid", .int(Int64(p.pgid))), ("sid", .int(Int64(p.sid))),
            ("command", .string(p.command)), ("executable", .string(p.executable)), ("cwd", .string(p.cwd)), ("root", .string(p.root)),
            ("umask", .int(Int64(p.umask))), ("uids", .array(p.uids.map { .uint($0) })), ("gids", .array(p.gids.map { .uint($0) })),
            ("stopped", .bool(p.stopped)), ("childSubreaper", .bool(p.childSubreaper)), ("savedBytes", .uint(image.savedBytes(pid: p.pid))),
            ("cgroups", cgroups(p.cgroups)),
            ("threads", .array(p.threads.map(thread))),
            ("mappings", .array(zip(p.mappings, image.savedPages(pid: p.pid, in: p.mappings)).map { m, saved in
                .object([("start", .uint(m.start)), ("end", .uint(m.end)), ("protection", .string(m.protectionString)),
                         ("kind", .string(String(describing: m.kind))), ("path", .optional(m.path)), ("offset", .uint(m.offset)),
                         ("savedPages", .uint(saved)), ("inheritedPages", .uint(m.inheritedPageCount)),
                         ("parentPages", .uint(m.parentPageCount)), ("hugePageSize", .uint(m.hugePageSize))])
            })),
            ("fds", .array(p.files.map(descriptor))),
            ("signals", .object([
                ("actions", .array(p.signalActions.filter { $0.handler != 0 }.map { a in
                    .object([("signal", .int(Int64(a.signal))), ("handler", .uint(a.handler)), ("flags", .uint(a.flags)), ("mask", .uint(a.mask))])
                })),
                ("pending", .array(p.sharedPending.compactMap { signalNumber($0) }.map { .int(Int64($0)) })),
            ])),
        ])
    }

    static func thread(_ t: ThreadState) -> JSONValue {
        .object([
            ("tid", .int(Int64(t.tid))),
            ("registers", .object(zip(ThreadState.registerNames, t.registers).map { ($0, .uint($1)) })),
            ("signalMask", .uint(t.signalMask)),
            ("pending", .array(t.pendingSignals.compactMap { signalNumber($0) }.map { .int(Int64($0)) })),
            ("xsaveBytes", .int(Int64(t.xsave.count))),
            ("name", .optional(t.name)),
            ("cgroups", cgroups(t.cgroups)),
            ("scheduling", SchedulingText.json(t.scheduling)),
        ])
    }

    /// A saved cgroup as a restart that makes it again writes it back.
    static func cgroupSettings(_ s: CgroupSettings) -> JSONValue {
        func owner(_ o: CgroupOwnership) -> JSONValue { .object([("mode", .string(String(o.mode, radix: 8))), ("uid", .uint(UInt64(o.uid))), ("gid", .uint(UInt64(o.gid)))]) }
        return .object([("controllers", .string(s.cgroup.controllers)), ("path", .string(s.cgroup.path)),
                        ("values", .object(s.values.map { ($0.file, .string($0.value)) })),
                        ("owner", s.directory.map(owner) ?? .null),
                        ("fileOwners", .object(s.files.map { ($0.file, owner($0.ownership)) })),
                        ("deviceRules", s.devices.map { .array($0.split(separator: "\n").map { .string(String($0)) }) } ?? .null)])
    }

    static func cgroups(_ list: [CgroupMembership]) -> JSONValue {
        .array(list.map { .object([("controllers", .string($0.controllers)), ("path", .string($0.path))]) })
    }

    /// si_signo of a saved 128-byte siginfo.
    static func signalNumber(_ info: [UInt8]) -> Int32? {
        guard info.count >= 4 else { return nil }
        return Int32(info[0]) | Int32(info[1]) << 8 | Int32(info[2]) << 16 | Int32(info[3]) << 24
    }
}
