import Foundation
import XCTest
import ZSMRuntime

/// The built `zsm` on a CPU without the build's features: under `qemu-x86_64 -cpu Haswell`
/// (AVX2, FMA, F16C; no AVX-512) a binary built for AVX-512 must exit with status 3 naming the
/// missing features for `--help`, `--version` and every subcommand's `--help`, before any code
/// compiled for the target CPU runs (ArgumentParser's static configuration used to die of
/// SIGILL first). A build Haswell can run (x86-64-v3) must work there instead.
final class StartupCPUCheckTests: XCTestCase {
  let zsm = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zsm")
    .path
  /// The features of qemu's Haswell model among those the check knows.
  static let haswell: Set<String> = ["avx", "avx2", "fma", "f16c"]

  /// Runs `command`; returns (status, standard output, standard error without qemu's warnings).
  func run(_ command: [String]) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: command[0])
    p.arguments = Array(command.dropFirst())
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    let outText = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    let errText = String(decoding: errData, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
      .filter { !$0.hasPrefix("qemu-x86_64") }.joined(separator: "\n")
    return (p.terminationStatus, outText, errText)
  }

  /// The subcommands `zsm --help` lists (run natively).
  func subcommands() throws -> [String] {
    let (status, help, err) = try run([zsm, "--help"])
    XCTAssertEqual(status, 0, err)
    guard let section = help.range(of: "SUBCOMMANDS:") else { return [] }
    // "  name   description": two spaces, then the name; wrapped descriptions are indented further.
    return help[section.upperBound...].split(separator: "\n").compactMap { line -> String? in
      guard line.hasPrefix("  "), !line.hasPrefix("   "), let word = line.split(separator: " ").first,
        word != "See"
      else { return nil }
      return String(word)
    }
  }

  func qemu() -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
      for name in ["qemu-x86_64", "qemu-x86_64-static"]
      where FileManager.default.isExecutableFile(
        atPath: "\(directory)/\(name)")
      {
        return "\(directory)/\(name)"
      }
    }
    return nil
  }

  func testEveryCommandOnAnAVX2CPU() throws {
    #if !arch(x86_64)
      throw XCTSkip("skipped: the qemu-x86_64 check is for x86-64 builds")
    #else
      guard let qemu = qemu() else {
        throw XCTSkip("skipped: qemu-x86_64 is not installed (apt-get install qemu-user; .ci/run installs it)")
      }
      let commands = try subcommands()
      XCTAssertTrue(
        commands.contains("upscale") && commands.contains("devices") && commands.count >= 10,
        "subcommands found in zsm --help: \(commands)")
      let missing = CPUFeatures.missing(required: CPUFeatures.buildTarget, available: Self.haswell)
      let expected = CPUFeatures.refusal(required: CPUFeatures.buildTarget, available: Self.haswell)
      for arguments in [["--help"], ["--version"]] + commands.map({ [$0, "--help"] }) {
        let (status, out, err) = try run([qemu, "-cpu", "Haswell", zsm] + arguments)
        let what = "qemu-x86_64 -cpu Haswell zsm \(arguments.joined(separator: " "))"
        if let expected {
          XCTAssertEqual(status, 3, "\(what): \(err)")
          XCTAssertEqual(err, "zsm: \(expected)\n", what)
          XCTAssertTrue(err.contains("lacks: \(missing.joined(separator: ", ")).") && !missing.isEmpty, what)
          XCTAssertEqual(out, "", what)
        } else {
          // Built for what Haswell has (x86-64-v3): the command runs.
          XCTAssertEqual(status, 0, "\(what): \(err)")
          XCTAssertTrue(out.contains(arguments == ["--version"] ? "zsm \(ZSMVersion.runtime)" : "USAGE:"), what)
        }
      }
    #endif
  }

  /// `zsm --version`: version, commit (when recorded), build flags, compiled-for and detected
  /// features, int8 kernels.
  func testVersion() throws {
    let (status, out, err) = try run([zsm, "--version"])
    XCTAssertEqual(status, 0, err)
    let lines = out.split(separator: "\n").map(String.init)
    XCTAssertEqual(lines.first, "zsm \(ZSMVersion.runtime)")
    XCTAssertTrue(lines.contains("build flags: \(CPUFeatures.buildFlags)"), out)
    func list(_ features: [String]) -> String { features.isEmpty ? "none" : features.joined(separator: " ") }
    XCTAssertTrue(lines.contains("built for: \(CPUFeatures.arch) \(list(CPUFeatures.compiledFor))"), out)
    XCTAssertTrue(lines.contains("this CPU: \(CPUFeatures.arch) \(list(CPUFeatures.detected))"), out)
    XCTAssertTrue(lines.contains { $0.hasPrefix("commit: ") }, out)
    XCTAssertTrue(lines.contains { $0.hasPrefix("int8 kernels: ") }, out)
  }
}
