// swift-tools-version:6.0
import PackageDescription

// Layers point down: commands -> engine (Checkpoint) -> image format / LinuxKit -> CLinux.
// CheckpointImage never touches ptrace; it only sees bytes and file descriptors.
let package = Package(
    name: "swiftcr",
    products: [
        // One engine binary: cr_checkpoint, cr_restart and cr_run are links to it (MultiCall).
        .executable(name: "swiftcr", targets: ["swiftcr"]),
        // libcr.so (SONAME libcr.so.0): BLCR's C API (include/libcr.h). Its
        // link-time companions libcr_run.so and libcr_omit.so are two tiny C
        // libraries built beside it by scripts/libcr-variants.sh.
        .library(name: "cr", type: .dynamic, targets: ["LibCR"]),
        // pam_xos.so (installed under that name from libpam_xos.so).
        .library(name: "pam_xos", type: .dynamic, targets: ["PamXOS"]),
        .executable(name: "xos", targets: ["xos"]),
        .executable(name: "xos-ca", targets: ["xos-ca"]),
        .executable(name: "xos-ams", targets: ["xos-ams"]),
        .executable(name: "pam_app_conv", targets: ["pam_app_conv"]),
        .executable(name: "xos-ssh", targets: ["xos-ssh"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The VO module only (XOS certificates).
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        .target(name: "CLinux"),
        // The crc32 instruction for image checksums, apart from the kernel layer.
        .target(name: "CChecksum"),
        .target(name: "LinuxKit", dependencies: [
            "CLinux",
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        // Debian's libzstd, for compressed page data (cr_checkpoint --compress).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .target(name: "CheckpointImage", dependencies: [
            "CChecksum", "CZstd",
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .target(name: "Checkpoint", dependencies: [
            "LinuxKit", "CheckpointImage", "AgentWire",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "SwiftCRCommands", dependencies: [
            "Checkpoint", "CheckpointImage", "LinuxKit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The VO module (issue 7): XOS certificates, account mapping, PAM. It
        // neither imports the checkpoint engine nor is imported by it.
        .target(name: "XOS", dependencies: [
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .target(name: "CPAM"),
        // pam_xos.so: PAM entry points in Swift over XOS; Swift's runtime inside, only pam_sm_* exported.
        .target(name: "PamXOS", dependencies: ["XOS", "CPAM"], exclude: ["pam_xos.map"],
                // FoundationEssentials' own static dependencies are not autolinked into a shared library: name them.
                linkerSettings: [.unsafeFlags(["-use-ld=lld", "-static-stdlib", "-Xlinker", "--version-script=Sources/PamXOS/pam_xos.map",
                                               "-l_FoundationCollections", "-l_FoundationCShims", "-lswiftSynchronization"])]),
        // The VO tools' code, shared: `xos` is all four (installed with links), the
        // single-tool executables are what the tests and development use.
        .target(name: "XOSTools", dependencies: ["XOS", "CPAM", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                                .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto")]),
        .executableTarget(name: "xos", dependencies: ["XOSTools"]),
        .executableTarget(name: "pam_app_conv", dependencies: ["XOSTools"]),
        .executableTarget(name: "xos-ca", dependencies: ["XOSTools"]),
        .executableTarget(name: "xos-ssh", dependencies: ["XOSTools"]),
        .executableTarget(name: "xos-ams", dependencies: ["XOSTools"]),
        .target(name: "CLibCR"),
        // The libcr agent's wire protocol, shared by libcr and the engine.
        .target(name: "AgentWire"),
        // Loaded into other programs: only its own CLibCR below it, Swift's
        // runtime linked in statically and hidden, only cr_* exported.
        .target(name: "LibCR", dependencies: ["CLibCR", "AgentWire"], exclude: ["libcr.map"],
                // Its code runs in signal handlers: no dynamic exclusivity bookkeeping there.
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])],
                linkerSettings: [.unsafeFlags(["-static-stdlib", "-Xlinker", "--version-script=Sources/LibCR/libcr.map", "-Xlinker", "-soname=libcr.so.0"])]),
        // Swift's runtime linked in: every cr_checkpoint and cr_restart starts
        // 2 ms sooner without loading and relocating a dozen shared libraries.
        .executableTarget(name: "swiftcr", dependencies: ["SwiftCRCommands"],
                          linkerSettings: [.unsafeFlags(["-static-stdlib", "-l_FoundationCShims", "-l_FoundationCollections"])]),
        .testTarget(name: "LinuxKitTests", dependencies: ["LinuxKit"]),
        .testTarget(name: "XOSTests", dependencies: ["XOS"]),
        .testTarget(name: "CheckpointImageTests", dependencies: ["CheckpointImage"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "CheckpointImage", "LinuxKit"]),
    ]
)
