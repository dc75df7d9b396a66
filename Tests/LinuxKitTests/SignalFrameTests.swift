import CLinux
import LinuxKit
import XCTest

/// The hand-built rt_sigreturn frame: where it goes and what it holds.
final class SignalFrameTests: XCTestCase {
    func testPlacementKeepsTheRedZoneAndAlignment() throws {
        let rsp: UInt64 = 0x7fff_1234_5678
        let p = try XCTUnwrap(SignalFrame.place(below: rsp, xstateSize: 2696, scratchSize: 4096))
        XCTAssertEqual(p.fpstate % 64, 0)
        XCTAssertLessThanOrEqual(p.end, rsp - 128, "the frame must stay below the red zone")
        XCTAssertLessThanOrEqual(p.frame + UInt64(MemoryLayout<cl_rt_sigframe>.size), p.fpstate)
        XCTAssertLessThanOrEqual(p.scratch + 4096, p.frame)
        XCTAssertNil(SignalFrame.place(below: 4096, xstateSize: 2696, scratchSize: 4096), "no room below a tiny stack pointer")
    }

    func testFrameHoldsRegistersMaskAndXstate() throws {
        var regs = Registers()
        regs.rip = 0x401000; regs.rsp = 0x7fff_0000_1000; regs.rax = 7; regs.r15 = 15; regs.cs = 0x33; regs.ss = 0x2b; regs.eflags = 0x246
        var sw = cl_fpx_sw_bytes()
        sw.magic1 = UInt32(CL_FP_XSTATE_MAGIC1); sw.xstate_size = 832; sw.extended_size = 836; sw.xfeatures = 7
        let xsave = (0..<1024).map { UInt8($0 & 0xff) }
        let p = try XCTUnwrap(SignalFrame.place(below: regs.rsp, xstateSize: 832, scratchSize: 4096))
        let bytes = try XCTUnwrap(SignalFrame.encode(registers: regs, mask: 0x200, xsave: xsave, sw: sw, placement: p))
        XCTAssertEqual(bytes.count, Int(p.end - p.frame))
        let frame = bytes.withUnsafeBytes { $0.loadUnaligned(as: cl_rt_sigframe.self) }
        XCTAssertEqual(frame.uc_mcontext.rip, 0x401000)
        XCTAssertEqual(frame.uc_mcontext.rsp, regs.rsp)
        XCTAssertEqual(frame.uc_mcontext.r15, 15)
        XCTAssertEqual(frame.uc_mcontext.fpstate, p.fpstate)
        XCTAssertEqual(frame.uc_sigmask, 0x200)
        XCTAssertNotEqual(frame.uc_stack.ss_flags, 0, "uc_stack must be invalid so sigreturn leaves the alternate stack alone")
        let fp = Int(p.fpstate - p.frame)
        XCTAssertEqual(Array(bytes[fp..<(fp + 464)]), Array(xsave[0..<464]))
        XCTAssertEqual(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: fp + 464, as: UInt32.self) }, UInt32(CL_FP_XSTATE_MAGIC1))
        XCTAssertEqual(Array(bytes[(fp + 512)..<(fp + 832)]), Array(xsave[512..<832]))
        XCTAssertEqual(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: fp + 832, as: UInt32.self) }, UInt32(CL_FP_XSTATE_MAGIC2))
        let resting = SignalFrame.resting(regs, trampoline: 0x7f00_0000_0100, placement: p)
        XCTAssertEqual(resting.rsp, p.frame + 8, "rt_sigreturn reads its frame at rsp - 8")
        XCTAssertEqual(resting.orig_rax, UInt64.max, "no syscall restart may touch the resting registers")
    }

    func testTheKernelDescribesItsFramesAndLibcHasATrampoline() throws {
        let sw = try XCTUnwrap(SignalFrame.kernelSoftwareBytes, "no XSAVE frame description read from our own signal")
        XCTAssertGreaterThanOrEqual(sw.xstate_size, 576)
        let tiny: [UInt8] = [0x90, 0x48, 0xC7, 0xC0, 0x0F, 0x00, 0x00, 0x00, 0x0F, 0x05, 0xC3]
        XCTAssertEqual(SignalFrame.firstIndex(of: SignalFrame.trampolinePatterns[0], in: tiny), 1)
        XCTAssertNil(SignalFrame.firstIndex(of: SignalFrame.trampolinePatterns[0], in: Array(tiny[0..<9])))
    }
}
