import XCTest
import ZSMRuntime

/// The start-up CPU check (CZSMCPU, compiled for the baseline CPU) against the Swift side: the
/// same feature names, the same features for the build target, and cpuid decoded as Linux does.
final class CPUCheckTests: XCTestCase {
  func testTheCCheckUsesTheSwiftFeatureNames() {
    #if arch(x86_64)
      XCTAssertEqual(CPUFeatures.cNames, CPUFeatures.x86Names)
    #elseif arch(arm64)
      XCTAssertEqual(CPUFeatures.cNames, CPUFeatures.arm64Names)
    #endif
  }

  /// CZSMBuildInfo is compiled by clang with Package.swift's clangCPUFlags; the Swift modules
  /// with -target-cpu / -Xcc -march. The start-up check trusts the first for the second.
  func testBuildTargetIsWhatTheSwiftCodeWasCompiledFor() {
    XCTAssertEqual(CPUFeatures.buildTarget, CPUFeatures.compiledFor, "build flags: \(CPUFeatures.buildFlags)")
    XCTAssertFalse(CPUFeatures.buildFlags.isEmpty)
  }

  /// cpuid + XCR0 give the same answer as the kernel's /proc/cpuinfo flags on real hardware
  /// (under an emulator they differ: /proc/cpuinfo is the host's, cpuid the emulated CPU's).
  func testDetectedFeaturesAgreeWithProcCPUInfo() throws {
    #if arch(x86_64) || arch(arm64)
      let available = try XCTUnwrap(CPUFeatures.available(), "/proc/cpuinfo unreadable")
      #if arch(x86_64)
        let names = CPUFeatures.x86Names
      #else
        let names = CPUFeatures.arm64Names
      #endif
      XCTAssertEqual(CPUFeatures.detected, names.filter { available.contains($0) })
      XCTAssertEqual(CPUFeatures.missing(required: CPUFeatures.buildTarget, available: Set(CPUFeatures.detected)), [])
    #else
      throw XCTSkip("skipped: no CPU feature detection on this architecture")
    #endif
  }
}
