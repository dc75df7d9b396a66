import Glibc
import XCTest
@testable import Checkpoint

/// The order stubs are made in (SessionOrder), against seeded random
/// histories of fork and setsid: replaying its steps, where a fork inherits
/// the parent's session at that moment and a deferred identity is the
/// setsid, must give every process the session it ended with.
final class SessionOrderTests: XCTestCase {
    func testEveryProcessIsBornInTheSessionItHas() {
        var g = PageRangeLogicTests.Generator(state: TestEnvironment.seed(for: "session-order"))
        var deferred = 0
        for round in 0..<2000 {
            // Process 1 is the tree's root and leads its session.
            var session: [pid_t: pid_t] = [1: 1]
            var parent: [pid_t: pid_t] = [1: 0]
            var made: [pid_t] = [1]
            for _ in 0..<Int.random(in: 1...24, using: &g) {
                guard let p = made.randomElement(using: &g) else { break }
                if Int.random(in: 0..<3, using: &g) > 0 {
                    let child = pid_t(made.count + 1)
                    session[child] = session[p]
                    parent[child] = p
                    made.append(child)
                } else if session[p] != p {
                    session[p] = p  // setsid: once only (it then leads its group)
                }
            }
            let members = made.map { SessionOrder.Member(pid: $0, ppid: parent[$0] ?? 0, sid: session[$0] ?? 0) }
            let order = SessionOrder(members)
            var now: [pid_t: pid_t] = [:]
            for step in order.steps {
                switch step {
                case .make(let pid, let deferIdentity):
                    let m = members[Int(pid) - 1]
                    if m.ppid != 0 {
                        guard let inherited = now[m.ppid] else { return XCTFail("round \(round): \(pid) made before its parent \(m.ppid)") }
                        now[pid] = inherited
                    } else {
                        now[pid] = pid
                    }
                    if !deferIdentity && m.sid == pid { now[pid] = pid }
                    if deferIdentity { deferred += 1 }
                case .identity(let pid):
                    XCTAssertNotNil(now[pid], "round \(round): identity of \(pid) before it was made")
                    now[pid] = pid
                }
            }
            XCTAssertEqual(Set(order.steps.compactMap { if case .make(let p, _) = $0 { p } else { nil } }), Set(made), "round \(round): every process made once")
            for m in members where now[m.pid] != m.sid {
                XCTFail("round \(round): process \(m.pid) ends in session \(now[m.pid] ?? -1), had \(m.sid): \(members) -> \(order.steps)")
                return
            }
        }
        XCTAssertGreaterThan(deferred, 0, "no history needed a deferred setsid: the test did not test it")
    }

    /// Without a parent's setsid to wait for, the stubs come in the image's order.
    func testTheImageOrderStaysWhenNothingWaits() {
        let members: [SessionOrder.Member] = [.init(pid: 10, ppid: 1, sid: 10), .init(pid: 12, ppid: 10, sid: 10), .init(pid: 11, ppid: 10, sid: 11)]
        XCTAssertEqual(SessionOrder(members).steps, [.make(10, deferIdentity: false), .make(12, deferIdentity: false), .make(11, deferIdentity: false)])
    }
}
