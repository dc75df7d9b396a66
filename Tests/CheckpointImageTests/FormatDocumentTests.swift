import Foundation
import XCTest
@testable import CheckpointImage

/// docs/IMAGE-FORMAT.md is the format's contract: every record table there
/// (marked `<!-- tags: NAME -->`) lists exactly the tags the code reads and
/// writes. A tag added, renumbered or dropped on one side only fails here.
final class FormatDocumentTests: XCTestCase {
    static let codeTags: [String: [UInt16]] = [
        "Inventory": Inventory.Tag.allCases.map(\.rawValue),
        "ProcessState": ProcessState.Tag.allCases.map(\.rawValue),
        "ThreadState": ThreadState.Tag.allCases.map(\.rawValue),
        "Mapping": Mapping.Tag.allCases.map(\.rawValue),
        "FileDescriptorState": FileDescriptorState.Tag.allCases.map(\.rawValue),
        "ZombieState": ZombieState.Tag.allCases.map(\.rawValue),
        "TreeState": TreeState.Tag.allCases.map(\.rawValue),
        "EventFDRecord": EventFDRecord.Tag.allCases.map(\.rawValue),
        "SignalFDRecord": SignalFDRecord.Tag.allCases.map(\.rawValue),
        "TimerFDRecord": TimerFDRecord.Tag.allCases.map(\.rawValue),
        "EpollRecord": EpollRecord.Tag.allCases.map(\.rawValue),
        "UnixSocketRecord": UnixSocketRecord.Tag.allCases.map(\.rawValue),
        "InetSocketRecord": InetSocketRecord.Tag.allCases.map(\.rawValue),
        "FIFORecord": FIFORecord.Tag.allCases.map(\.rawValue),
        "MemFDRecord": MemFDRecord.Tag.allCases.map(\.rawValue),
        "InotifyRecord": InotifyRecord.Tag.allCases.map(\.rawValue),
        "TCPConnectionRecord": TCPConnectionRecord.Tag.allCases.map(\.rawValue),
        "UnlinkedFileRecord": UnlinkedFileRecord.Tag.allCases.map(\.rawValue),
        "NodeRecord": NodeRecord.Tag.allCases.map(\.rawValue),
        "PidFDRecord": PidFDRecord.Tag.allCases.map(\.rawValue),
        "NamespaceRecord": NamespaceRecord.Tag.allCases.map(\.rawValue),
        "PtyRecord": PtyRecord.Tag.allCases.map(\.rawValue),
        "PacketSocketRecord": PacketSocketRecord.Tag.allCases.map(\.rawValue),
        "NetlinkSocketRecord": NetlinkSocketRecord.Tag.allCases.map(\.rawValue),
        "FanotifyRecord": FanotifyRecord.Tag.allCases.map(\.rawValue),
        "TunFileRecord": TunFileRecord.Tag.allCases.map(\.rawValue),
        "MessageQueueRecord": MessageQueueRecord.Tag.allCases.map(\.rawValue),
        "TunDevice": TunDevice.Tag.allCases.map(\.rawValue),
        "VirtualLink": VirtualLink.Tag.allCases.map(\.rawValue),
        "FirewallRules": FirewallRules.Tag.allCases.map(\.rawValue),
        "SavedAddress": SavedAddress.Tag.allCases.map(\.rawValue),
        "SavedRoute": SavedRoute.Tag.allCases.map(\.rawValue),
        "MountNamespaceState": MountNamespaceState.Tag.allCases.map(\.rawValue),
        "SavedMount": SavedMount.Tag.allCases.map(\.rawValue),
        "SavedFile": SavedFile.Tag.allCases.map(\.rawValue),
    ]

    static var document: String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/IMAGE-FORMAT.md")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }

    /// The tag numbers of each marked table: "5", "14*", "7, 8", "1-4", "2, 3".
    static func documentedTags(_ text: String) -> [String: [UInt16]] {
        var tables: [String: [UInt16]] = [:]
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("<!-- tags: "), let end = line.range(of: " -->") {
                current = String(line[line.index(line.startIndex, offsetBy: 11)..<end.lowerBound])
                tables[current!] = []
                continue
            }
            guard let name = current else { continue }
            guard line.hasPrefix("|") else {
                if !line.isEmpty || !(tables[name] ?? []).isEmpty { current = nil }
                continue
            }
            let cell = line.split(separator: "|").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            for part in cell.replacingOccurrences(of: "*", with: "").split(separator: ",") {
                let bounds = part.split(separator: "-").compactMap { UInt16($0.trimmingCharacters(in: .whitespaces)) }
                if bounds.count == 2 { tables[name, default: []] += Array(bounds[0]...bounds[1]) }
                else if bounds.count == 1 { tables[name, default: []].append(bounds[0]) }
            }
        }
        return tables
    }

    func testEveryRecordTableMatchesTheCode() {
        let documented = Self.documentedTags(Self.document)
        XCTAssertEqual(Set(documented.keys), Set(Self.codeTags.keys), "records documented vs records in code")
        for (name, tags) in Self.codeTags {
            let doc = documented[name] ?? []
            XCTAssertEqual(doc.sorted(), tags.sorted(), "\(name): docs/IMAGE-FORMAT.md lists \(doc.sorted()), the code has \(tags.sorted())")
            XCTAssertEqual(Set(doc).count, doc.count, "\(name): a tag is listed twice")
        }
    }

    /// The parser itself reads ranges, lists and repeat marks.
    func testTableParsing() {
        let text = "<!-- tags: X -->\n| tag | t |\n|---:|---|\n| 1-3 | a |\n| 5, 6 | b |\n| 9* | c |\n\nafter\n| 40 | no |"
        XCTAssertEqual(Self.documentedTags(text)["X"], [1, 2, 3, 5, 6, 9])
    }
}
