import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// What the documentation says is what runs: the README's GNU parallel example (run as shown,
/// and shown by `zsm upscale --help`).
final class DocumentationTests: XCTestCase {
  let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  var zsm: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zsm").path
  }

  /// The README's code block that starts with `parallel zsm upscale`.
  func readmeExample() throws -> [String] {
    let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    let lines = readme.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let start = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("parallel zsm upscale") }, "no parallel example")
    let end = try XCTUnwrap(lines[start...].firstIndex { $0.hasPrefix("```") })
    return Array(lines[start..<end])
  }

  func testTheHelpShowsTheReadmesExample() throws {
    let example = try readmeExample()
    let r = try runProcess(zsm, ["upscale", "--help"])
    XCTAssertEqual(r.status, 0, r.stderr)
    for line in example {
      XCTAssertTrue(r.stdout.contains(line), "zsm upscale --help lacks the README's line: \(line)\n\(r.stdout)")
    }
  }

  func testParallelExampleRunsAsShown() throws {
    guard FFmpegTestTools.available else { throw XCTSkip("ffmpeg is not installed (.ci/run installs it)") }
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/parallel") else {
      throw XCTSkip("GNU parallel is not installed (.ci/run installs it: apt-get install parallel)")
    }
    let example = try readmeExample()
    XCTAssertEqual(example.count, 3, "\(example)")
    let directory = URL(fileURLWithPath: "/tmp/zsm-readme-\(getpid())-\(Int.random(in: 0..<1_000_000))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let bin = directory.appendingPathComponent("bin")
    try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent("zsm").path, withDestinationPath: zsm)
    try FileManager.default.createSymbolicLink(
      atPath: directory.appendingPathComponent("M.pth").path,
      withDestinationPath: root.appendingPathComponent("Tests/Fixtures/tiny_16x12_n2/model.pth").path)
    // 350 frames: every one of the example's four ranges has frames, the last one fewer.
    try FFmpegTestTools.run([
      "-f", "lavfi", "-i", "testsrc=size=16x12:rate=25", "-frames", "350", "-pix_fmt", "yuv420p",
      directory.appendingPathComponent("clip.y4m").path,
    ])
    let script = "set -euo pipefail\n" + example.joined(separator: "\n") + "\n"
    let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    // HOME: parallel keeps its state there; a fresh one keeps the test from the user's.
    let r = try runProcess(
      "/bin/bash", ["-c", script], in: directory, environment: ["PATH": path, "HOME": directory.path])
    XCTAssertEqual(r.status, 0, r.stderr)
    let whole = try runProcess(
      zsm, ["upscale", "--model", "M.pth", "-i", "clip.y4m", "-o", "whole.y4m"], in: directory)
    XCTAssertEqual(whole.status, 0, whole.stderr)
    let joined = try Data(contentsOf: directory.appendingPathComponent("upscaled.y4m"))
    let header = joined.prefix { $0 != 0x0A }.count + 1
    XCTAssertEqual((joined.count - header) / (64 * 48 * 3 / 2 + 6), 699, "2 x 350 - 1 frames of 64x48")
    XCTAssertEqual(joined, try Data(contentsOf: directory.appendingPathComponent("whole.y4m")), "byte for byte")
  }
}
