// swift-tools-version:6.0
// ZSM Edge: space-time video super-resolution (Zooming Slow-Mo) on CPUs, in Swift.
//
// Building for a CPU. Every target is compiled for a named CPU, because without one each
// `SIMD16<Float>.addingProduct` lane becomes a call to `fmaf` (170x slower, see README).
//   swift build -c release                          # -target-cpu native (this machine)
//   ZSM_TARGET_CPU=znver4 swift build -c release    # another x86 CPU by LLVM name
//   ZSM_TARGET_CPU=generic ZSM_MARCH=x86-64-v3 swift build -c release   # a psABI level via clang
//   ZSM_TARGET_CPU=generic swift build              # no CPU flags at all (portable, slow)
// ZSM_TARGET_CPU takes any name `swiftc -target-cpu` accepts (x86-64-v3/v4 are rejected by
// the frontend; use ZSM_MARCH for those). ZSM_MARCH is passed as `-Xcc -march=...`.
//   ZSM_BOARD=rpi5 swift build -c release          # the flags of Boards/rpi5.json (`build`)
// ZSM_BOARD takes its target_cpu and march from the board file (null target_cpu: generic);
// ZSM_TARGET_CPU / ZSM_MARCH, when also set, override them. Build on (or for) that board.
import Foundation
import PackageDescription

let environment = ProcessInfo.processInfo.environment

/// `build.target_cpu`, `build.march` and `arch` of Boards/$ZSM_BOARD.json, or nil without ZSM_BOARD.
func boardBuildFlags() -> (cpu: String, march: String?, arch: String?)? {
  guard let board = environment["ZSM_BOARD"], !board.isEmpty else { return nil }
  let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Boards/\(board).json")
  guard let data = try? Data(contentsOf: path),
    let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
    let build = root["build"] as? [String: Any]
  else { fatalError("ZSM_BOARD=\(board): cannot read the build section of \(path.path)") }
  return (build["target_cpu"] as? String ?? "generic", build["march"] as? String, root["arch"] as? String)
}

/// The CPU the build targets: an LLVM CPU name ("generic": none) and an optional -march.
func cpuSelection() -> (cpu: String, march: String?) {
  let board = boardBuildFlags()
  let cpu = environment["ZSM_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 } ?? board?.cpu ?? "native"
  let march = environment["ZSM_MARCH"].flatMap { $0.isEmpty ? nil : $0 } ?? board?.march
  return (cpu, march)
}

/// Compiler flags that name the CPU the binary is built for.
func cpuFlags() -> [String] {
  let (cpu, march) = cpuSelection()
  var flags: [String] = []
  if cpu != "generic" { flags += ["-target-cpu", cpu] }
  if let march { flags += ["-Xcc", "-march=\(march)"] }
  return flags
}

/// Whether the build targets x86-64: the board's `arch` when ZSM_BOARD names one (a cross
/// build evaluates this manifest on the build machine), else the machine building.
func targetIsX86() -> Bool {
  if let arch = boardBuildFlags()?.arch { return arch == "x86_64" }
  #if arch(x86_64)
    return true
  #else
    return false
  #endif
}

/// The same selection as clang flags, in the order swiftc hands them to its clang importer
/// (-target-cpu becomes -march on x86, -mcpu elsewhere; a later -march wins).
func clangCPUFlags() -> [String] {
  let (cpu, march) = cpuSelection()
  var flags: [String] = []
  if cpu != "generic" { flags.append(targetIsX86() ? "-march=\(cpu)" : "-mcpu=\(cpu)") }
  if let march { flags.append("-march=\(march)") }
  return flags
}

let kernelSettings: [SwiftSetting] = [.unsafeFlags(cpuFlags())]

/// Whether an aarch64 build targets ARMv8.2 dot products (`sdot`): the -march (a board's
/// `build.march`) names `+dotprod` or is ARMv8.4-A or later, or, without one, the CPU is one
/// that has them (this machine's cpuinfo `asimddp` for native).
func targetHasDotProd() -> Bool {
  guard !targetIsX86() else { return false }
  let (cpu, march) = cpuSelection()
  if let march {
    let withDotProd: [String] = ["armv8.4-a", "armv8.5-a", "armv8.6-a", "armv8.7-a", "armv8.8-a", "armv9"]
    return march.contains("+dotprod") || withDotProd.contains { march.hasPrefix($0) }
  }
  if cpu == "native" {
    #if arch(arm64)
      let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
      return info.contains(" asimddp")
    #else
      return false
    #endif
  }
  let dotProdCPUs: Set = [
    "cortex-a55", "cortex-a65", "cortex-a75", "cortex-a76", "cortex-a76ae", "cortex-a77", "cortex-a78",
    "cortex-a78ae", "cortex-a78c", "cortex-a510", "cortex-a710", "cortex-x1", "cortex-x2", "neoverse-n1",
    "neoverse-n2", "neoverse-v1", "neoverse-v2",
  ]
  return dotProdCPUs.contains(cpu)
}

/// On aarch64 builds with dot products, ZSM_DOTPROD turns on ZSMKernelsInt8's SDot.swift
/// (`sdot` from CZSMNeon's C header) and the `sdot` path of `conv3x3Int8Dot` (ARMDot.swift), the
/// network's int8 kernel on aarch64. (Typed steps: Swift 6.2.)
let dotProd = targetHasDotProd()
let dotProdSettings: [SwiftSetting] = dotProd ? [.define("ZSM_DOTPROD")] : []

/// Whether an x86 build targets AVX-512 (32 vector registers of 16 floats): a named CPU or
/// -march that has it (x86-64-v4), or this machine's cpuinfo `avx512f` for native. ZSM_AVX512
/// then selects ZSMKernels' wide fp32 micro-kernels (6 pixels x 64 channels, 24 zmm
/// accumulators); without it (AVX2: 16 ymm registers) they take 6 pixels x 16 channels, as on
/// aarch64, since the wide tile would spill (Tools/gen-kernels.py).
func targetHasAVX512() -> Bool {
  let avx512Names: Set<String> = [
    "x86-64-v4", "skylake-avx512", "cascadelake", "cooperlake", "cannonlake", "icelake-server", "icelake-client",
    "tigerlake", "rocketlake", "sapphirerapids", "emeraldrapids", "graniterapids", "znver4", "znver5",
  ]
  return targetIsX86() && targetX86Has(cpuinfoFlag: "avx512f", cpus: avx512Names, marches: avx512Names)
}
let avx512Settings: [SwiftSetting] = targetHasAVX512() ? [.define("ZSM_AVX512")] : []
let kernelsModuleSettings: [SwiftSetting] = kernelSettings + avx512Settings

/// Whether the CPU the build targets has AVX-512 VNNI: the int8 kernels then use `vpdpbusd`,
/// which LLVM cannot compile for other CPUs (Swift has no per-function target attributes).
func targetHasVNNI() -> Bool {
  let vnniCPUs: Set<String> = [
    "znver4", "znver5", "icelake-server", "icelake-client", "tigerlake", "sapphirerapids", "cascadelake",
    "cooperlake", "rocketlake", "graniterapids", "emeraldrapids",
  ]
  // No -march names VNNI (x86-64-v4 has AVX-512 without it).
  return targetX86Has(cpuinfoFlag: "avx512_vnni", cpus: vnniCPUs, marches: [])
}

/// Whether the x86 CPU the build targets has a feature: its -march is one of `marches` (a
/// later -march replaces the CPU's features: x86-64-v3 has AVX2, no AVX-512), or, without one,
/// this machine's cpuinfo lists `cpuinfoFlag` for `native`, or the named CPU is one of `cpus`.
func targetX86Has(cpuinfoFlag: String, cpus: Set<String>, marches: Set<String>) -> Bool {
  let (cpu, march) = cpuSelection()
  if let march { return marches.contains(march) }
  if cpu == "native" {
    #if arch(x86_64)
      let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
      return info.contains(" " + cpuinfoFlag)
    #else
      return false
    #endif
  }
  return cpus.contains(cpu)
}

/// What `zsm --version` reports about the build: the CPU flags, and the git commit when the
/// builder says it (ZSM_GIT_COMMIT=$(git rev-parse --short HEAD) swift build -c release).
func buildInfoSettings() -> [CSetting] {
  let flags = cpuFlags().isEmpty ? "none (generic)" : cpuFlags().joined(separator: " ")
  let commit = environment["ZSM_GIT_COMMIT"].flatMap { $0.isEmpty ? nil : $0 } ?? ""
  func literal(_ s: String) -> String {
    "\"" + s.filter { $0 != "\"" && $0 != "\\" && !$0.isNewline } + "\""
  }
  var settings: [CSetting] = [
    .define("ZSM_BUILD_FLAGS", to: literal(flags)), .define("ZSM_GIT_COMMIT", to: literal(commit)),
  ]
  let clang = clangCPUFlags()
  if !clang.isEmpty { settings.append(.unsafeFlags(clang)) }
  return settings
}

/// Whether the CPU the build targets has AVX2 (the minimum of the x86 int8 kernels): a named
/// CPU or -march of Haswell / Zen 1 or later, x86-64-v3/v4, or this machine's cpuinfo.
func targetHasAVX2() -> Bool {
  let avx2Names: Set<String> = [
    "x86-64-v3", "x86-64-v4", "haswell", "broadwell", "skylake", "skylake-avx512", "cannonlake", "alderlake",
    "raptorlake", "meteorlake", "arrowlake", "lunarlake", "gracemont", "znver1", "znver2", "znver3", "znver4",
    "znver5", "icelake-server", "icelake-client", "tigerlake", "sapphirerapids", "cascadelake", "cooperlake",
    "rocketlake", "graniterapids", "emeraldrapids",
  ]
  return targetX86Has(cpuinfoFlag: "avx2", cpus: avx2Names, marches: avx2Names)
}

/// The int8 kernels of the build (ZSMKernelsInt8): `vpdpbusd` where the target CPU has
/// AVX-512 VNNI, else `vpmaddwd` where it has AVX2; none for other x86 builds (generic). Every
/// aarch64 build has them: `sdot` with dot products (ZSM_DOTPROD), 16-bit multiply-adds without.
let vnni = targetIsX86() && targetHasVNNI()
let int8X86 = targetIsX86() && (vnni || targetHasAVX2())
let int8Available = int8X86 || !targetIsX86()
/// (Typed steps: Swift 6.2 must type-check this manifest too.) ZSMKernelsInt8 is compiled with
/// `-enforce-exclusivity=unchecked`: its aarch64 tile keeps 16 accumulators in `var`s that nested
/// step functions update, and where Swift 6.2.3 (the aarch64 compiler) did not inline those it
/// checked every access at run time (52 calls to swift_beginAccess in `conv3x3Int8Dot`: twice the
/// int8 window's instructions under qemu); the kernels work on raw pointers, which exclusivity
/// checking does not cover anyway. Not ZSMKernels: there 6.2.3 places no such checks, and the
/// flag changed its inlining (the fp16 window +1.9% instructions under qemu).
let uncheckedExclusivity: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
let vnniDefine: [SwiftSetting] = vnni ? [.define("ZSM_VNNI")] : []
let int8KernelSettings: [SwiftSetting] =
  kernelSettings + [.unsafeFlags(["-enable-builtin-module"])] + uncheckedExclusivity + vnniDefine + dotProdSettings
let int8Targets: [Target] =
  int8Available
  ? [
    /// int8 3x3 convolution (`import Builtin` for `vpdpbusd` / `vpmaddwd`; on aarch64
    /// `conv3x3Int8Dot`, `sdot` from CZSMNeon).
    .target(name: "ZSMKernelsInt8", dependencies: ["ZSMKernels", "CZSMNeon"], swiftSettings: int8KernelSettings)
  ] : []
let int8Dependencies: [Target.Dependency] = int8Available ? ["ZSMKernelsInt8"] : []
/// `#if ZSM_INT8` marks code that uses ZSMKernelsInt8; `#if ZSM_VNNI` what is VNNI's only.
let int8Defines: [SwiftSetting] = int8Available ? [.define("ZSM_INT8")] : []
let int8Settings: [SwiftSetting] = int8Defines + vnniDefine

/// Every target but the int8 one. (One typed array: Swift 6.2 cannot type-check the array
/// literal added to int8Targets inside Package(...) in reasonable time.)
let zsmTargets: [Target] = [
  // MARK: - Runtime (no third-party dependencies)

  /// The arithmetic. Imports nothing (no Foundation, no Glibc, no C), so the same files also
  /// compile as Embedded Swift for aarch64.
  .target(name: "ZSMKernels", swiftSettings: kernelsModuleSettings),
  /// Header-only C: the ARM instructions Swift 6.2 cannot reach (`sdot`, byte narrowing), as
  /// `static inline` functions the importing Swift (ZSMKernelsInt8) inlines; empty on x86.
  .target(name: "CZSMNeon"),
  /// Tensor descriptors, the static arena and its planner, the worker pool.
  .target(name: "ZSMRuntime", dependencies: ["ZSMKernels", "CZSMCPU"], swiftSettings: kernelSettings),
  /// C compiled for baseline x86-64 / aarch64 (no CPU flags): the start-up check that exits
  /// with status 3 naming the missing features before any code built for the target CPU
  /// runs, the running CPU's features (cpuid, AT_HWCAP), and the features the importing
  /// module was compiled for (header-only).
  .target(name: "CZSMCPU", dependencies: ["CZSMBuildInfo"]),
  /// Data only, compiled with the target CPU's clang flags: the features the build targets,
  /// its flags and commit, read by CZSMCPU's start-up check and `zsm --version`.
  .target(name: "CZSMBuildInfo", cSettings: buildInfoSettings()),
  /// Checkpoint readers (PyTorch zip and legacy containers, a safe unpickler), the `.bin`
  /// tensor files, the network configuration, the Zooming Slow-Mo graph and its temporal
  /// windows. Imports Glibc, not Foundation.
  .target(
    name: "ZSMModel", dependencies: ["ZSMRuntime"] + int8Dependencies, swiftSettings: kernelSettings + int8Settings),

  // MARK: - Video in and out

  /// libv4l2 and the V4L2 uapi, with the ioctl numbers Swift cannot import from macros.
  .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2", providers: [.apt(["libv4l-dev"])]),
  /// libdrm and the DRM/KMS uapi, with the ioctl numbers Swift cannot import from macros.
  .systemLibrary(name: "CDRM", pkgConfig: "libdrm", providers: [.apt(["libdrm-dev"])]),
  /// Frames, Y4M files and pipes, the V4L2 camera, the KMS display, the syscall seam.
  .target(name: "ZSMVideo", dependencies: ["ZSMKernels", "CV4L2", "CDRM"], swiftSettings: kernelSettings),

  /// Source -> network -> sink: clips window by window.
  .target(
    name: "ZSMPipeline", dependencies: ["ZSMModel", "ZSMVideo"], swiftSettings: kernelSettings + int8Settings),

  // MARK: - Command line

  .executableTarget(
    name: "zsm",
    dependencies: [
      "ZSMRuntime",
      "ZSMModel",
      "ZSMVideo",
      "ZSMPipeline",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ] + int8Dependencies,
    swiftSettings: kernelSettings + int8Settings
  ),

  /// The VM integration test program (Tests/VM/run.sh boots it next to vivid and vkms).
  .executableTarget(
    name: "zsm-vmtest", dependencies: ["ZSMVideo"], path: "Tests/VM/zsm-vmtest", swiftSettings: kernelSettings),

  // MARK: - Tests

  /// Counts calls to malloc & co. so tests can prove "no heap allocation per frame".
  .target(name: "CAllocCounter", path: "Tests/Support/CAllocCounter"),
  .testTarget(
    name: "ZSMKernelsTests", dependencies: ["ZSMKernels"] + int8Dependencies,
    swiftSettings: kernelSettings + int8Settings),
  .testTarget(name: "ZSMVideoTests", dependencies: ["ZSMVideo", "ZSMKernels"], swiftSettings: kernelSettings),
  .testTarget(
    name: "ZSMPipelineTests", dependencies: ["ZSMPipeline", "ZSMModel", "ZSMVideo", "zsm", "CAllocCounter"],
    swiftSettings: kernelSettings + int8Settings
  ),
  .testTarget(
    name: "ZSMRuntimeTests",
    dependencies: ["ZSMRuntime", "CAllocCounter"],
    swiftSettings: kernelSettings
  ),
  .testTarget(
    name: "ZSMModelTests", dependencies: ["ZSMModel", "CAllocCounter"], exclude: ["Data"],
    swiftSettings: kernelSettings + int8Settings
  ),
]

/// libFuzzer targets, one per parser of outside data (Tools/fuzz/README.md), only with
/// ZSM_FUZZ=1: they have no main (libFuzzer's is linked by `--sanitize fuzzer`), so they are
/// built on their own by Tools/fuzz.sh (ZSM_FUZZ=1 swift build -c release --sanitize fuzzer
/// --sanitize address -Xswiftc -sanitize-coverage=... --scratch-path .build-fuzz --product fuzz-y4m).
/// (Typed steps, as zsmTargets: Swift 6.2 must type-check this manifest too.)
let fuzzSpecs: [(name: String, folder: String, dependencies: [String])] = [
  ("fuzz-checkpoint", "Checkpoint", ["ZSMModel"]), ("fuzz-unpickler", "Unpickler", ["ZSMModel"]),
  ("fuzz-y4m", "Y4M", ["ZSMVideo"]), ("fuzz-daemon-config", "DaemonConfig", ["ZSMPipeline"]),
  ("fuzz-calibration", "Calibration", ["ZSMModel"]), ("fuzz-board", "Board", ["ZSMRuntime"]),
]
func fuzzTarget(_ spec: (name: String, folder: String, dependencies: [String])) -> Target {
  let dependencies: [Target.Dependency] = spec.dependencies.map { Target.Dependency.target(name: $0) }
  let settings: [SwiftSetting] = kernelSettings + [.unsafeFlags(["-parse-as-library"])]
  return .executableTarget(
    name: spec.name, dependencies: dependencies, path: "Tools/fuzz/\(spec.folder)", swiftSettings: settings)
}
let fuzzTargets: [Target] = environment["ZSM_FUZZ"] == "1" ? fuzzSpecs.map(fuzzTarget) : []

let package = Package(
  name: "ZSMEdge",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "zsm", targets: ["zsm"]),
    .library(name: "ZSMRuntime", targets: ["ZSMRuntime"]),
    .library(name: "ZSMModel", targets: ["ZSMModel"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: zsmTargets + int8Targets + fuzzTargets
)
