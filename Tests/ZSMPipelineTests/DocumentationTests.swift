import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// What the documentation says is what runs: the README's GNU parallel example (run as shown,
/// and shown by `zsm upscale --help`), and the `docs/architecture.md §N` citations of the help
/// texts and the sources, which must name sections that exist.
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

  /// Every command's discussion reads as wrapped text at 80 columns (in a pipe): no example
  /// line is wider, and no prose line ends where the next line's first word would still have
  /// fitted (as when the source's own line breaks reached ArgumentParser, which then wrapped
  /// the long lines again and left two-word lines between them).
  func testHelpDiscussionsWrapAt80Columns() throws {
    for command in [
      "upscale", "live", "eval", "daemon", "infer", "inspect", "bench", "profile", "calibrate", "devices",
    ] {
      let r = try runProcess(zsm, [command, "--help"])
      XCTAssertEqual(r.status, 0, r.stderr)
      let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
      let end = lines.firstIndex { $0.hasPrefix("USAGE:") } ?? lines.endIndex
      let discussion = lines[..<end]
      for line in discussion {
        XCTAssertLessThanOrEqual(line.count, 80, "zsm \(command) --help: a line over 80 columns: \(line)")
      }
      for (line, next) in zip(discussion, discussion.dropFirst())
      where !line.isEmpty && !next.isEmpty && line.first != " " && next.first != " " {
        let word = next.split(separator: " ").first ?? ""
        // ArgumentParser fills at most 79 of the 80 columns.
        XCTAssertGreaterThan(
          line.count + 1 + word.count, 79,
          "zsm \(command) --help: '\(word)' would have fitted on the line before:\n\(line)\n\(next)")
      }
    }
  }

  /// Section numbers ("1", "5.1") of docs/architecture.md's headings.
  func architectureSections() throws -> Set<String> {
    let text = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
    var sections: Set<String> = []
    for line in text.split(separator: "\n") where line.hasPrefix("## ") || line.hasPrefix("### ") {
      // "## 5. Stage C" and "### 5.1 One direction"
      let words = line.split(separator: " ")
      let number = words.count > 1 ? String(words[1].hasSuffix(".") ? words[1].dropLast() : words[1]) : ""
      if !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "." }) { sections.insert(number) }
    }
    return sections
  }

  /// Every `architecture.md §N` citation in `text`, as (the name it cites, "N").
  func citations(in text: String) -> [(String, String)] {
    text.matches(of: /([\w.\/]*architecture\.md) §(\d+(?:\.\d+)?)/).map { (String($0.1), String($0.2)) }
  }

  func testHelpAndSourceCitationsNameSectionsOfDocsArchitecture() throws {
    let sections = try architectureSections()
    XCTAssertTrue(sections.isSuperset(of: ["1", "3", "4", "5.1", "8.2", "9.1", "10", "11"]), "\(sections.sorted())")
    var cited = 0
    for command in [
      "upscale", "live", "eval", "daemon", "infer", "inspect", "bench", "profile", "calibrate", "devices",
    ] {
      let r = try runProcess(zsm, [command, "--help"])
      XCTAssertEqual(r.status, 0, r.stderr)
      // Help text may wrap a citation's name and number onto two lines.
      let help = r.stdout.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "  ", with: " ")
      for (name, section) in citations(in: help) {
        cited += 1
        XCTAssertEqual(name, "docs/architecture.md", "zsm \(command) --help cites \(name)")
        XCTAssertTrue(
          sections.contains(section), "zsm \(command) --help cites §\(section), not in docs/architecture.md")
      }
    }
    XCTAssertGreaterThanOrEqual(cited, 2, "eval and inspect cite the document")
    let sources = FileManager.default.enumerator(atPath: root.appendingPathComponent("Sources").path)!
    for case let file as String in sources where file.hasSuffix(".swift") {
      let text = try String(contentsOf: root.appendingPathComponent("Sources/\(file)"), encoding: .utf8)
      for (name, section) in citations(in: text) {
        XCTAssertEqual(name, "docs/architecture.md", "Sources/\(file) cites \(name)")
        XCTAssertTrue(sections.contains(section), "Sources/\(file) cites §\(section), not in docs/architecture.md")
      }
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
