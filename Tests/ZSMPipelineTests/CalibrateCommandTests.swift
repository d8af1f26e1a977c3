import Foundation
import XCTest
import ZSMModel
import ZSMPipeline

/// `zsm calibrate` and `--precision` end to end with the real binary on an ffmpeg clip:
/// the table lands under the model's sha256, int8 without a table names the command that
/// makes one, a table for another model is refused, and the fp16/int8 outputs stay within
/// the issue's bounds of fp32 (PSNR-Y of the output Y4M: fp16 >= 50 dB, int8 >= 40 dB on the
/// fixture's random weights).
final class CalibrateCommandTests: XCTestCase {
  let zsm = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zsm")
    .path
  let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

  func model(_ name: String) -> String { fixtures.appendingPathComponent("\(name)/model.pth").path }

  /// Runs `zsm` in `directory`; returns (status, standard error).
  @discardableResult
  func run(_ arguments: [String], in directory: String) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: zsm)
    p.arguments = arguments
    p.currentDirectoryURL = URL(fileURLWithPath: directory)
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
  }

  func lumaPSNR(_ a: String, _ b: String) throws -> [Double] {
    let ra = try Y4MFrames(path: a)
    let rb = try Y4MFrames(path: b)
    XCTAssertEqual(ra.frames.count, rb.frames.count)
    return zip(ra.frames, rb.frames).map { x, y in
      Quality.psnr(x[0..<ra.lumaBytes].map { Double($0) }, y[0..<rb.lumaBytes].map { Double($0) })
    }
  }

  func testCalibrateThenUpscaleInEveryPrecision() throws {
    #if !ZSM_INT8
      throw XCTSkip(
        "skipped: this build has no int8 kernels (they need AVX2 or AVX-512 VNNI); testInt8IsRefusedWithoutKernels"
          + " checks the refusal")
    #else
      guard FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg") else {
        throw XCTSkip("ffmpeg is not installed (.ci/run installs it)")
      }
      let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zsm-calibrate-\(getpid())").path
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let clip = "\(dir)/clip.y4m"
      let ffmpeg = Process()
      ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
      ffmpeg.arguments = [
        "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=32x24:rate=10", "-frames", "7", "-pix_fmt", "yuv420p", clip,
      ]
      try ffmpeg.run()
      ffmpeg.waitUntilExit()
      let small = model("small_32x24_n3")

      // int8 before any table: refused, naming the command.
      let (noTable, noTableMessage) = try run(
        ["upscale", "--model", small, "-i", clip, "-o", "\(dir)/x.y4m", "--precision", "int8"], in: dir)
      XCTAssertNotEqual(noTable, 0)
      XCTAssertTrue(noTableMessage.contains("zsm calibrate --model \(small)"), noTableMessage)

      let (status, message) = try run(
        ["calibrate", "--model", small, "-i", clip, "--frames", "7", "--window", "3", "--threads", "2"], in: dir)
      XCTAssertEqual(status, 0, message)
      let sha = try SHA256.hexDigest(ofFileAt: small)
      let tablePath = "\(dir)/Calibration/\(sha)-int8.json"
      let table = try CalibrationTable.load(path: tablePath, expectedModelSHA256: sha)
      XCTAssertEqual(table.psnrY.count, 13)
      XCTAssertGreaterThanOrEqual(table.psnrY.min() ?? 0, 40, "calibration's own int8 measurement")

      for precision in ["fp32", "fp16", "int8"] {
        let (s, m) = try run(
          [
            "upscale", "--model", small, "-i", clip, "-o", "\(dir)/\(precision).y4m", "--window", "3", "--precision",
            precision,
          ], in: dir)
        XCTAssertEqual(s, 0, "\(precision): \(m)")
      }
      let fp16 = try lumaPSNR("\(dir)/fp16.y4m", "\(dir)/fp32.y4m")
      let int8 = try lumaPSNR("\(dir)/int8.y4m", "\(dir)/fp32.y4m")
      print("upscale PSNR-Y vs fp32: fp16 min \(fp16.min()!) dB, int8 min \(int8.min()!) dB")
      XCTAssertGreaterThanOrEqual(fp16.min()!, 50)
      XCTAssertGreaterThanOrEqual(int8.min()!, 40)
      XCTAssertLessThan(int8.min()!, .infinity, "int8 output identical to fp32: int8 did not run")

      // The table of one model is refused for another.
      let (other, otherMessage) = try run(
        [
          "upscale", "--model", model("tiny_16x12_n2"), "-i", clip, "-o", "\(dir)/y.y4m", "--precision", "int8",
          "--calibration", tablePath,
        ], in: dir)
      XCTAssertNotEqual(other, 0)
      XCTAssertTrue(otherMessage.contains("was made for model sha256"), otherMessage)
    #endif
  }
}

extension CalibrateCommandTests {
  /// A build without int8 kernels refuses `--precision int8` and `zsm calibrate` with the
  /// reason, exit status 1, and leaves no table.
  func testInt8IsRefusedWithoutKernels() throws {
    guard let reason = Int8Policy.unavailableReason else {
      throw XCTSkip(
        "skipped: this build has int8 kernels (\(Int8Policy.backend ?? "")); the refusal is tested by builds"
          + " without them (generic x86-64)")
    }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zsm-int8-refusal-\(getpid())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let small = model("small_32x24_n3")
    let clip = "\(dir)/clip.y4m"
    var bytes = Array("YUV4MPEG2 W32 H24 F10:1 Ip A1:1 C420jpeg\n".utf8)
    for _ in 0..<3 { bytes += Array("FRAME\n".utf8) + [UInt8](repeating: 128, count: 32 * 24 * 3 / 2) }
    try Data(bytes).write(to: URL(fileURLWithPath: clip))
    for arguments in [
      ["upscale", "--model", small, "-i", clip, "-o", "\(dir)/x.y4m", "--precision", "int8"],
      ["calibrate", "--model", small, "-i", clip, "--precision", "int8"],
    ] {
      let (status, message) = try run(arguments, in: dir)
      XCTAssertEqual(status, 1, "\(arguments[0]): \(message)")
      XCTAssertTrue(message.contains(reason), "\(arguments[0]): \(message)")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/Calibration"), "no table written")
  }
}

/// Every frame of a 4:2:0 Y4M file, for comparing planes.
struct Y4MFrames {
  let frames: [[UInt8]]
  let lumaBytes: Int

  init(path: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let bytes = [UInt8](data)
    guard let headerEnd = bytes.firstIndex(of: 0x0A) else { throw CocoaError(.fileReadCorruptFile) }
    let header = String(decoding: bytes[..<headerEnd], as: UTF8.self).split(separator: " ")
    let w = Int(header.first { $0.hasPrefix("W") }!.dropFirst())!
    let h = Int(header.first { $0.hasPrefix("H") }!.dropFirst())!
    lumaBytes = w * h
    let frameBytes = w * h + 2 * ((w + 1) / 2) * ((h + 1) / 2)
    var frames: [[UInt8]] = []
    var i = headerEnd + 1
    while i < bytes.count {
      guard let lineEnd = bytes[i...].firstIndex(of: 0x0A) else { break }
      let start = lineEnd + 1
      frames.append(Array(bytes[start..<(start + frameBytes)]))
      i = start + frameBytes
    }
    self.frames = frames
  }
}
