import Foundation
import XCTest
import ZSMKernels
import ZSMModel
import ZSMPipeline
import ZSMVideo

/// `ClipUpscaler` on synthetic Y4M clips with the tiny fixture checkpoint.
final class ClipUpscalerTests: XCTestCase {
  static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/tiny_16x12_n2/model.pth").path
  nonisolated(unsafe) static let network: ZSMNetwork = {
    let (stateDict, config) = try! StateDict.loadZSM(path: model)
    return try! ZSMNetwork(stateDict: stateDict, config: config, threads: 2)
  }()

  var directory: URL!

  override func setUpWithError() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("zsm-pipeline-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

  /// A moving gradient clip of `frames` 4:2:0 frames of `width x height`.
  func makeClip(_ name: String, frames: Int, width: Int = 13, height: Int = 9) throws -> String {
    let path = directory.appendingPathComponent(name).path
    let header = Y4MHeader(width: width, height: height, frameRate: (25, 1))
    let writer = try Y4MWriter(path: path, header: header)
    var bytes = [UInt8](repeating: 128, count: header.frameByteCount)
    for f in 0..<frames {
      for y in 0..<height { for x in 0..<width { bytes[y * width + x] = UInt8(16 + (x * 13 + y * 7 + f * 5) % 200) } }
      try bytes.withUnsafeBytes { try writer.writeFrame($0) }
    }
    try writer.close()
    return path
  }

  func upscale(_ input: String, to output: String, window: Int, frames: Range<Int> = 0..<Int.max) throws
    -> UpscaleSummary
  {
    let reader = try Y4MReader(path: input)
    var header = reader.header
    header.width *= 4
    header.height *= 4
    let writer = try Y4MWriter(path: output, header: header, writesHeader: frames.lowerBound == 0)
    let upscaler = try ClipUpscaler(
      network: Self.network, windowSize: window, width: reader.header.width, height: reader.header.height,
      decode: .bt601, encode: .bt601)
    let summary = try upscaler.run(reader: reader, writer: writer, frames: frames)
    try writer.close()
    return summary
  }

  func testEveryInputAndInterpolatedFrameExactlyOnce() throws {
    for l in [2, 3, 5, 8] {
      let clip = try makeClip("clip\(l).y4m", frames: l)
      for n in [2, 3, 4] {
        let out = directory.appendingPathComponent("out-\(l)-\(n).y4m").path
        let summary = try upscale(clip, to: out, window: n)
        XCTAssertEqual(summary.framesRead, l)
        XCTAssertEqual(summary.framesWritten, 2 * l - 1, "L \(l) N \(n)")
        XCTAssertEqual(summary.windows, WindowPlan(frameCount: l, windowSize: n).windows.count, "L \(l) N \(n)")
        let reader = try Y4MReader(path: out)
        XCTAssertEqual(reader.header.width, 52)
        XCTAssertEqual(reader.header.height, 36)
        var frame = [UInt8](repeating: 0, count: reader.frameByteCount)
        var count = 0
        while try frame.withUnsafeMutableBytes({ try reader.readFrame(into: $0) }) != nil { count += 1 }
        XCTAssertEqual(count, 2 * l - 1)
      }
    }
  }

  func testFrameRangesConcatenateToTheWholeRunByteForByte() throws {
    let clip = try makeClip("clip.y4m", frames: 8)
    let whole = directory.appendingPathComponent("whole.y4m").path
    _ = try upscale(clip, to: whole, window: 3)
    var joined = Data()
    for (i, range) in [0..<3, 3..<4, 4..<7, 7..<Int.max].enumerated() {
      let part = directory.appendingPathComponent("part\(i).y4m").path
      _ = try upscale(clip, to: part, window: 3, frames: range)
      joined += try Data(contentsOf: URL(fileURLWithPath: part))
    }
    XCTAssertEqual(joined, try Data(contentsOf: URL(fileURLWithPath: whole)))
  }

  func testTruncatedInputKeepsEveryWholeFrameAndSaysWhere() throws {
    let clip = try makeClip("clip.y4m", frames: 5)
    let data = try Data(contentsOf: URL(fileURLWithPath: clip))
    let cut = directory.appendingPathComponent("cut.y4m")
    try data.prefix(data.count - 40).write(to: cut)
    let out = directory.appendingPathComponent("out.y4m").path
    XCTAssertThrowsError(try upscale(cut.path, to: out, window: 2)) { error in
      XCTAssertTrue("\(error)".contains("stream ends inside frame 4"), "\(error)")
    }
  }

  func testFullDiskStopsWithAClearError() throws {
    let clip = try makeClip("clip.y4m", frames: 3)
    XCTAssertThrowsError(try upscale(clip, to: "/dev/full", window: 2)) { error in
      XCTAssertTrue("\(error)".contains("disk full"), "\(error)")
    }
  }

  func testARangeBeyondTheEndIsAnError() throws {
    let clip = try makeClip("clip.y4m", frames: 3)
    let out = directory.appendingPathComponent("out.y4m").path
    XCTAssertThrowsError(try upscale(clip, to: out, window: 2, frames: 5..<9)) { error in
      XCTAssertTrue("\(error)".contains("the input has 3 frames"), "\(error)")
    }
  }

  /// A stream with a header and no frame is an error naming the count (it was an empty
  /// success with a nonsense summary).
  func testHeaderOnlyInputIsAnError() throws {
    for frames in [0, 1] {
      let clip = try makeClip("short\(frames).y4m", frames: frames)
      let out = directory.appendingPathComponent("out\(frames).y4m").path
      XCTAssertThrowsError(try upscale(clip, to: out, window: 4)) { error in
        XCTAssertTrue("\(error)".contains("the input has \(frames) frame(s); at least 2 are needed"), "\(error)")
      }
    }
  }

  /// Interlaced input (woven fields) is refused with the way to deinterlace it; progressive
  /// and unknown (`?`) pass.
  func testInterlacedInputIsRefused() throws {
    for mode: Character in ["t", "b", "m"] {
      let header = Y4MHeader(width: 16, height: 12, interlacing: mode)
      XCTAssertThrowsError(try upscaledHeader(of: header, slowmo: false)) { error in
        XCTAssertTrue("\(error)".contains("the input is interlaced (I\(mode)"), "\(error)")
        XCTAssertTrue("\(error)".contains("bwdif"), "\(error)")
      }
    }
    for mode: Character in ["p", "?"] {
      XCTAssertEqual(
        try upscaledHeader(of: Y4MHeader(width: 16, height: 12, interlacing: mode), slowmo: false).interlacing, "p")
    }
  }
}
