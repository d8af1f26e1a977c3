import Foundation
import XCTest
import ZSMModel
import ZSMRuntime

/// The calibration table: JSON round trip, every refusal, and atomic writes.
final class CalibrationTableTests: XCTestCase {
  private let sha = String(repeating: "0123456789abcdef", count: 4)
  private let otherSHA = String(repeating: "fedcba9876543210", count: 4)

  private func sample() -> CalibrationTable {
    CalibrationTable(
      modelSHA256: sha, method: "percentile 0.9999 of a log-binned histogram, asymmetric u8",
      clip: "clips/\"odd\" name\twith\\escapes.y4m", frames: 7, windows: 3,
      entries: [
        .init(tensor: "conv_first.input", scale: 1e-7, zeroPoint: 0, min: 0, max: 2.55e-5),
        .init(tensor: "feature_extraction.0.conv1.input", scale: 0.1, zeroPoint: 128, min: -12.8, max: 12.7),
        .init(tensor: "huge", scale: 3.4028235e38, zeroPoint: 255, min: -3.4028235e38, max: 0),
        .init(
          tensor: "subnormal", scale: .leastNonzeroMagnitude, zeroPoint: 17, min: -1.1754944e-38,
          max: Float(bitPattern: 0x007F_FFFF)),
      ],
      psnrY: [38.25, 41.123456789012344, .infinity, 0.1])
  }

  /// A valid table's JSON with `old` replaced by `new` (to make one field wrong).
  private func edited(_ old: String, _ new: String) -> String {
    let text = sample().json()
    XCTAssertTrue(text.contains(old), "sample JSON lacks \(old)")
    return text.replacingOccurrences(of: old, with: new)
  }

  private func assertRefused(
    _ text: String, _ kind: CalibrationError.Kind, _ parts: [String], line: UInt = #line
  ) {
    do throws(CalibrationError) {
      _ = try CalibrationTable.parse(text)
      XCTFail("expected \(kind) containing \(parts)", line: line)
    } catch {
      XCTAssertEqual(error.kind, kind, "\(error)", line: line)
      for part in parts {
        XCTAssertTrue(error.description.contains(part), "\"\(error)\" lacks \"\(part)\"", line: line)
      }
    }
  }

  private func assertLoadRefused(
    _ path: String, expecting expected: String, _ kind: CalibrationError.Kind, _ parts: [String], line: UInt = #line
  ) {
    do throws(CalibrationError) {
      _ = try CalibrationTable.load(path: path, expectedModelSHA256: expected)
      XCTFail("expected \(kind) containing \(parts)", line: line)
    } catch {
      XCTAssertEqual(error.kind, kind, "\(error)", line: line)
      for part in parts {
        XCTAssertTrue(error.description.contains(part), "\"\(error)\" lacks \"\(part)\"", line: line)
      }
    }
  }

  func testRoundTrip() throws {
    let table = sample()
    let text = table.json()
    XCTAssertEqual(try CalibrationTable.parse(text), table)
    XCTAssertEqual(table.format, ZSMVersion.calibrationFormat)
    XCTAssertEqual(table.runtimeVersion, ZSMVersion.runtime)
    XCTAssertEqual(table.precision, "int8")
    XCTAssertTrue(text.contains("\"psnr_y\": [38.25, 41.123456789012344, \"inf\", 0.1]"), text)
    XCTAssertTrue(text.contains("\"mean_psnr_y\": \"inf\""), text)
    // One entry per line.
    XCTAssertEqual(text.split(separator: "\n").filter { $0.contains("\"tensor\"") }.count, 4)
    // Stable: the same table gives the same text.
    XCTAssertEqual(try CalibrationTable.parse(text).json(), text)
    // An empty table round-trips too.
    let empty = CalibrationTable(
      modelSHA256: sha, method: "", clip: "", frames: 0, windows: 0, entries: [], psnrY: [])
    XCTAssertEqual(try CalibrationTable.parse(empty.json()), empty)
    XCTAssertTrue(empty.json().contains("\"mean_psnr_y\": null"))
  }

  /// Every finite Float written by `json()` reads back as the same Float (bit for bit).
  func testFloatsRoundTripExactly() throws {
    var state: UInt32 = 12345
    var entries: [CalibrationTable.Entry] = []
    var i = 0
    while entries.count < 20_000 {
      state = state &* 1_664_525 &+ 1_013_904_223
      let value = Float(bitPattern: state)
      guard value.isFinite, value != 0 else { continue }
      i += 1
      entries.append(.init(tensor: "t\(i)", scale: abs(value), zeroPoint: 0, min: value, max: value))
    }
    for value: Float in [.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, 0.1, 1e-7, 1 / 3] {
      i += 1
      entries.append(.init(tensor: "t\(i)", scale: value, zeroPoint: 0, min: -value, max: value))
    }
    var table = sample()
    table.entries = entries
    let back = try CalibrationTable.parse(table.json())
    for (a, b) in zip(back.entries, entries) {
      XCTAssertEqual(a.scale.bitPattern, b.scale.bitPattern, "\(b.scale)")
      XCTAssertEqual(a.min.bitPattern, b.min.bitPattern, "\(b.min)")
    }
    XCTAssertEqual(back, table)
  }

  func testMeanPSNRAndLookups() {
    let table = sample()
    XCTAssertEqual(table.meanPSNRY, .infinity)
    var finite = table
    finite.psnrY = [30, 40, 41]
    XCTAssertEqual(finite.meanPSNRY, 37)
    XCTAssertEqual(table.entry(named: "huge")?.zeroPoint, 255)
    XCTAssertNil(table.entry(named: "absent"))
    XCTAssertEqual(table.entry(named: "feature_extraction.0.conv1.input")?.parameters.scale, 0.1)
    XCTAssertEqual(
      CalibrationTable.defaultPath(modelSHA256: sha), "Calibration/\(sha)-int8.json")
    XCTAssertEqual(CalibrationTable.defaultPath(directory: "/x/y", modelSHA256: "ab"), "/x/y/ab-int8.json")
  }

  func testRefusesMalformedDocuments() {
    assertRefused("", .malformed, ["not valid JSON"])
    assertRefused("{\"format\": 1,", .malformed, ["not valid JSON"])
    assertRefused("[1, 2]", .malformed, ["the document: expected an object"])
    assertRefused(edited("  \"clip\"", "  \"clipx\""), .malformed, ["clip: missing"])
    assertRefused(edited("\"frames\": 7", "\"frames\": \"7\""), .malformed, ["frames: expected an integer 0 or more"])
    assertRefused(edited("\"windows\": 3", "\"windows\": -3"), .malformed, ["windows: expected an integer"])
    assertRefused(
      edited("\"method\": \"percentile", "\"method\": 5, \"x\": \""), .malformed, ["method: expected a string"])
    assertRefused(edited("\"windows\": 3,", "\"windows\": 3, \"extra\": 1,"), .malformed, ["extra: unknown field"])
    assertRefused(edited("\"psnr_y\": [38.25", "\"psnr_y\": [null"), .malformed, ["psnr_y[0]: expected a number"])
    assertRefused(edited("\"psnr_y\": [", "\"psnr_y\": 1, \"y\": ["), .malformed, ["psnr_y: expected an array"])
    // Found by the calibration fuzz target: -1e309 read as -infinity, which json() could not
    // write back as the same table.
    assertRefused(
      edited("\"psnr_y\": [38.25", "\"psnr_y\": [-1e309240918083701"), .malformed,
      ["out of range", "-1e309240918083701"])
    assertRefused(edited("\"entries\": [", "\"entries\": [3, "), .malformed, ["entries[0]: expected an object"])
    assertRefused(
      edited("\"model_sha256\": \"0123", "\"model_sha256\": \"0123X"), .malformed, ["model_sha256: expected 64"])
    assertRefused(
      edited(", \"max\": 12.7}", "}"), .malformed, ["entries[1].max: missing"])
    assertRefused(
      edited(", \"max\": 12.7}", ", \"max\": 12.7, \"bias\": 0}"), .malformed, ["entries[1].bias: unknown field"])
  }

  func testRefusesBadEntries() {
    assertRefused(edited("\"scale\": 0.1,", "\"scale\": 0,"), .malformed, ["entries[1].scale", "above 0"])
    assertRefused(edited("\"scale\": 0.1,", "\"scale\": -0.5,"), .malformed, ["entries[1].scale", "-0.5"])
    assertRefused(edited("\"scale\": 0.1,", "\"scale\": 1e39,"), .malformed, ["entries[1].scale", "finite"])
    assertRefused(edited("\"scale\": 0.1,", "\"scale\": null,"), .malformed, ["entries[1].scale", "finite"])
    assertRefused(
      edited("\"zero_point\": 128", "\"zero_point\": 256"), .malformed, ["entries[1].zero_point", "0 to 255"])
    assertRefused(
      edited("\"zero_point\": 128", "\"zero_point\": -1"), .malformed, ["entries[1].zero_point", "0 to 255"])
    assertRefused(
      edited("\"zero_point\": 128", "\"zero_point\": 12.5"), .malformed, ["entries[1].zero_point", "0 to 255"])
    assertRefused(edited("\"min\": -12.8", "\"min\": 13"), .malformed, ["entries[1].min", "above max"])
    assertRefused(
      edited("\"tensor\": \"huge\"", "\"tensor\": \"conv_first.input\""), .malformed,
      ["entries[2].tensor", "'conv_first.input' appears twice", "entries[0]"])
    assertRefused(edited("\"tensor\": \"huge\"", "\"tensor\": \"\""), .malformed, ["entries[2].tensor", "empty"])
  }

  func testRefusesOtherFormatsAndPrecisions() {
    assertRefused(
      edited("\"format\": 1", "\"format\": 2"), .incompatibleFormat,
      ["calibration format 2", "reads format \(ZSMVersion.calibrationFormat)", "re-made", ZSMVersion.runtime])
    // The format is checked before anything else: a future table may have other fields.
    assertRefused("{\"format\": 7, \"scales\": {}}", .incompatibleFormat, ["calibration format 7"])
    assertRefused("{\"method\": \"x\"}", .malformed, ["format: missing"])
    assertRefused(
      edited("\"precision\": \"int8\"", "\"precision\": \"fp16\""), .unsupportedPrecision, ["'fp16'", "'int8'"])
  }

  func testLoadChecksTheModelAndNamesThePath() throws {
    let directory = TestPaths.temporary("calibration")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = CalibrationTable.defaultPath(directory: directory, modelSHA256: sha)
    assertLoadRefused(
      path, expecting: sha, .missingTable,
      ["no calibration table at \(path)", "zsm calibrate --model MODEL --input CLIP.y4m --precision int8"])
    try sample().write(to: path)
    XCTAssertEqual(try CalibrationTable.load(path: path, expectedModelSHA256: sha), sample())
    XCTAssertEqual(try CalibrationTable.load(path: path, expectedModelSHA256: sha.uppercased()), sample())
    assertLoadRefused(
      path, expecting: otherSHA, .modelMismatch,
      [path, "was made for model sha256 0123456789abcdef…", "this model is fedcba9876543210…", "run zsm calibrate"])
    // Parse errors are attributed to the file.
    try edited("\"format\": 1", "\"format\": 2").write(toFile: path, atomically: false, encoding: .utf8)
    assertLoadRefused(path, expecting: sha, .incompatibleFormat, ["\(path): calibration format 2"])
    try "{".write(toFile: path, atomically: false, encoding: .utf8)
    assertLoadRefused(path, expecting: sha, .malformed, ["\(path): not valid JSON"])
    // A directory where the table should be is an access error, not "missing".
    let dirPath = directory + "/dir.json"
    try FileManager.default.createDirectory(atPath: dirPath, withIntermediateDirectories: true)
    assertLoadRefused(dirPath, expecting: sha, .fileAccess, [dirPath])
  }

  func testAtomicWriteIntoNewNestedDirectory() throws {
    let root = TestPaths.temporary("calib-write")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let path = root + "/a/b/c/table.json"
    let table = sample()
    try table.write(to: path)
    XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), table.json())
    XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/a/b/c"), ["table.json"])
    // Overwriting replaces the whole file.
    var smaller = table
    smaller.entries = Array(table.entries.prefix(1))
    try smaller.write(to: path)
    XCTAssertEqual(try CalibrationTable.parse(try String(contentsOfFile: path, encoding: .utf8)), smaller)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/a/b/c"), ["table.json"])
  }

  func testWriteFailuresAreErrorsNamingThePath() throws {
    // /proc accepts neither new directories nor new files.
    for path in ["/proc/zsm-calibration-test/table.json", "/proc/zsm-calibration-test.json"] {
      do throws(CalibrationError) {
        try sample().write(to: path)
        XCTFail("expected an error writing \(path)")
      } catch {
        XCTAssertEqual(error.kind, .fileAccess)
        XCTAssertTrue(error.description.contains(path), "\(error)")
        XCTAssertTrue(error.description.contains("errno"), "\(error)")
      }
    }
    // A regular file where a directory should be.
    let file = TestPaths.temporary("not-a-directory")
    try "x".write(toFile: file, atomically: false, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: file) }
    do throws(CalibrationError) {
      try sample().write(to: file + "/sub/table.json")
      XCTFail("expected an error")
    } catch {
      XCTAssertEqual(error.kind, .fileAccess)
      XCTAssertTrue(error.description.contains("cannot create directory \(file)"), "\(error)")
    }
  }
}
