import CZSMCPU

/// The CPU features this binary was compiled for and those the running CPU has, so the runtime
/// can refuse to start (with a clear message) instead of dying of SIGILL mid-frame.
///
/// Compiled-for features come from the compiler's own predefined macros (`__AVX512F__`,
/// `__ARM_FEATURE_DOTPROD`, ...), evaluated with ZSMRuntime's `-target-cpu`/`-march` flags (the
/// same as the kernels'); available features from `/proc/cpuinfo` `flags` on x86 and
/// `getauxval(AT_HWCAP)` on aarch64. Names are Linux's.
public enum CPUFeatures {
  /// x86 feature names, bit i of `zsm_compiled_features()`.
  public static let x86Names = [
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16",
    "avx512_fp16",
  ]
  /// aarch64 feature names, bit i of `zsm_compiled_features()`, with their HWCAP bits.
  public static let arm64Names = ["asimd", "fphp", "asimdhp", "asimddp"]
  static let arm64HWCAPBits: [UInt64] = [1 << 1, 1 << 9, 1 << 10, 1 << 20]

  /// This build's architecture, as board files name it.
  public static var arch: String {
    #if arch(x86_64)
      return "x86_64"
    #elseif arch(arm64)
      return "aarch64"
    #else
      return "other"
    #endif
  }

  static var names: [String] {
    #if arch(x86_64)
      return x86Names
    #elseif arch(arm64)
      return arm64Names
    #else
      return []
    #endif
  }

  /// Features the code was compiled to use.
  public static var compiledFor: [String] { decode(zsm_compiled_features(), names: names) }

  /// Features the build targets, as recorded by CZSMBuildInfo (compiled with the target CPU's
  /// clang flags) and checked by CZSMCPU's start-up constructor; equal to `compiledFor` when
  /// Package.swift gives clang and swiftc the same CPU.
  public static var buildTarget: [String] { decode(zsm_build_target_feature_bits(), names: names) }

  /// Features of the running CPU as the start-up check sees them: cpuid and XCR0 on x86 (so an
  /// emulator's CPU model counts, where /proc/cpuinfo shows the host's), AT_HWCAP on aarch64.
  public static var detected: [String] { decode(zsm_cpu_features(), names: names) }

  /// Names of the feature bits as CZSMCPU spells them (kept equal to `x86Names`/`arm64Names`).
  public static var cNames: [String] {
    var result: [String] = []
    while let name = zsm_cpu_feature_name(Int32(result.count)) { result.append(String(cString: name)) }
    return result
  }

  /// The CPU flags of the build ("-target-cpu native", "none (generic)", ...).
  public static var buildFlags: String { String(cString: zsm_build_flags_string()) }

  /// The git commit the builder recorded (ZSM_GIT_COMMIT at build time), or nil.
  public static var buildCommit: String? {
    let commit = String(cString: zsm_build_commit_string())
    return commit.isEmpty ? nil : commit
  }

  /// Whether the fp16-arithmetic convolution (`conv3x3F16Arith`, `fmla v.8h`) runs fast here:
  /// aarch64 code compiled with ARMv8.2 FP16 arithmetic (a board whose `build.march` has
  /// `+fp16`, or a `-target-cpu` that implies it: "fphp" and "asimdhp" in `compiledFor`) on a CPU
  /// whose AT_HWCAP reports both. Without the flags LLVM scalarises every fp16 FMA (correct,
  /// about 15x slower), so such builds keep fp16 storage. A binary compiled for the features
  /// never runs on a CPU without them (the start-up check refuses it), so the second half
  /// matters only for builds whose start-up check could not read the CPU. False on x86-64.
  public static let fp16Arithmetic: Bool = {
    #if arch(arm64)
      let needed = ["fphp", "asimdhp"]
      let compiled = Set(compiledFor)
      let running = Set(detected)
      return needed.allSatisfy { compiled.contains($0) && running.contains($0) }
    #else
      return false
    #endif
  }()

  /// Features of the running CPU, or nil when they cannot be read (then nothing is refused).
  public static func available() -> Set<String>? {
    #if arch(x86_64)
      guard let bytes = readFile("/proc/cpuinfo") else { return nil }
      return cpuinfoFlags(String(decoding: bytes, as: UTF8.self))
    #elseif arch(arm64)
      return hwcapFeatures(zsm_hwcap())
    #else
      return nil
    #endif
  }

  static func decode(_ bits: UInt64, names: [String]) -> [String] {
    names.enumerated().filter { bits & (1 << UInt64($0.offset)) != 0 }.map(\.element)
  }

  /// The `flags` (x86) or `Features` (aarch64) of the first processor in /proc/cpuinfo text.
  public static func cpuinfoFlags(_ text: String) -> Set<String>? {
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: ":", maxSplits: 1)
      guard parts.count == 2 else { continue }
      let key = parts[0].trimmingTabs()
      if key == "flags" || key == "Features" {
        return Set(parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init))
      }
    }
    return nil
  }

  /// aarch64 feature names for a HWCAP word.
  public static func hwcapFeatures(_ hwcap: UInt64) -> Set<String> {
    Set(zip(arm64Names, arm64HWCAPBits).filter { hwcap & $0.1 != 0 }.map(\.0))
  }

  /// Compiled-for features the CPU lacks (sorted as `required`).
  public static func missing(required: [String], available: Set<String>) -> [String] {
    required.filter { !available.contains($0) }
  }

  /// The refusal message, or nil when every compiled-for feature is there (or unknown).
  public static func refusal(required: [String], available: Set<String>?) -> String? {
    guard let available else { return nil }
    let lacking = missing(required: required, available: available)
    if lacking.isEmpty { return nil }
    return """
      this zsm binary was built for CPU features this CPU lacks: \(lacking.joined(separator: ", ")).
      It would stop with an illegal instruction. Rebuild it on this machine (swift build -c release), \
      for this board (ZSM_BOARD=<name> swift build -c release, see Boards/README.md), or portable \
      (ZSM_TARGET_CPU=generic ZSM_MARCH=x86-64-v3 on x86).
      """
  }

  /// Throws the refusal when the running CPU lacks a feature the binary was compiled for.
  public static func requireCompiledFeatures() throws(BoardError) {
    if let message = refusal(required: compiledFor, available: available()) { throw BoardError(message) }
  }
}

extension Substring {
  fileprivate func trimmingTabs() -> String {
    String(self.split(whereSeparator: { $0 == "\t" || $0 == " " }).joined(separator: " "))
  }
}
