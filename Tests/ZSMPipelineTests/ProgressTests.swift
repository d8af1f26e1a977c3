import Foundation
import XCTest

/// `zsm bench` and `zsm profile` run for minutes: with --progress (or on a terminal) they say
/// on stderr what they are measuring, while stdout keeps only the results (here: one JSON
/// document that must parse). Each runs once: a profile takes about a minute on a loaded
/// 2-core host.
final class ProgressTests: XCTestCase {
  var zsm: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zsm").path
  }
  let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/tiny_16x12_n2/model.pth").path

  func progressLines(_ stderr: String, prefix: String) -> [Substring] {
    stderr.split(separator: "\n").filter { $0.hasPrefix(prefix) }
  }

  func testBenchProgressGoesToStderrAndStdoutStaysJSON() throws {
    let arguments = ["bench", "--filter", "conv1x1-128-64-180x144", "--reps", "1", "--threads", "1", "--json"]
    let r = try runProcess(zsm, arguments + ["--progress"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)), r.stdout)
    let lines = progressLines(r.stderr, prefix: "bench [")
    XCTAssertTrue(lines.contains { $0.hasSuffix("1 thread(s): FMA peak") }, r.stderr)
    XCTAssertTrue(lines.contains { $0.hasSuffix("1 thread(s): 1 kernel(s), round 1 of 1") }, r.stderr)
    XCTAssertFalse(r.stdout.contains("bench ["), "progress never on stdout")
  }

  func testProfileProgressGoesToStderrAndStdoutStaysJSON() throws {
    let arguments = [
      "profile", "--model", model, "--size", "16x12", "--frames", "2", "--reps", "1", "--threads", "1", "--no-tune",
      "--json",
    ]
    let r = try runProcess(zsm, arguments + ["--progress"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)), r.stdout)
    let lines = progressLines(r.stderr, prefix: "profile [")
    XCTAssertTrue(lines.contains { $0.hasSuffix("FMA peak, 1 thread") }, r.stderr)
    XCTAssertTrue(lines.contains { $0.hasSuffix("the network, 16x12, 2 frames: run 1 of 1") }, r.stderr)
    // Its measurement notes are whole lines of their own. (Without the flag, in a pipe, the
    // same ProgressLine writes nothing: VideoFileTests checks that for upscale.)
    XCTAssertTrue(r.stderr.split(separator: "\n").contains { $0.hasPrefix("network run time (s):") }, r.stderr)
  }
}
