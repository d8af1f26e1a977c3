import Foundation
import XCTest
import ZSMKernels
import ZSMVideo

func temporaryPath(_ name: String) -> String {
  NSTemporaryDirectory() + "zsm-y4m-\(getpid())-\(name)"
}

/// A frame whose every byte depends on (frame, position), to catch misordered reads.
func patternFrame(_ header: Y4MHeader, _ index: Int) -> [UInt8] {
  (0..<header.frameByteCount).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index &* 31) }
}

final class Y4MTests: XCTestCase {
  func testHeaderRoundTripAndAllColorSpaces() throws {
    for cs in Y4MColorSpace.allCases {
      let h = Y4MHeader(
        width: 33, height: 17, frameRate: (30000, 1001), aspect: (1, 1), interlacing: "p", colorSpace: cs,
        extensions: ["COLORRANGE=FULL"])
      let line = Array(h.line.utf8.dropLast())
      XCTAssertEqual(try Y4MHeader.parse(line, path: "t"), h)
    }
    XCTAssertEqual(Y4MHeader(width: 33, height: 17, colorSpace: .c420).frameByteCount, 33 * 17 + 2 * 17 * 9)
    XCTAssertEqual(Y4MHeader(width: 4, height: 2, colorSpace: .c444).frameByteCount, 24)
    XCTAssertEqual(Y4MHeader(width: 4, height: 2, colorSpace: .mono).frameByteCount, 8)
    // Defaults: no C means 420jpeg; minimal header.
    let minimal = try Y4MHeader.parse(Array("YUV4MPEG2 W2 H2".utf8), path: "t")
    XCTAssertEqual(minimal.colorSpace, .c420jpeg)
    XCTAssertEqual(minimal.range, .limited)
  }

  func testBadHeadersNameTheProblem() {
    let cases: [(String, String)] = [
      ("YUV4MPEG W2 H2", "does not start with"),
      ("YUV4MPEG2 H2", "no width"),
      ("YUV4MPEG2 W2", "no height"),
      ("YUV4MPEG2 W0 H2", "outside"),
      ("YUV4MPEG2 W99999999999 H2", "outside"),
      ("YUV4MPEG2 Wx H2", "not a number"),
      ("YUV4MPEG2 W2 H2 F30", "frame rate"),
      ("YUV4MPEG2 W2 H2 Iq", "interlacing"),
      ("YUV4MPEG2 W2 H2 Z1", "unknown tag"),
      ("YUV4MPEG2 W2 H2 C422", "unsupported Y4M colour space 'C422'"),
      ("YUV4MPEG2 W2 H2 C420p10", "unsupported"),
    ]
    for (text, expect) in cases {
      do {
        _ = try Y4MHeader.parse(Array(text.utf8), path: "in.y4m")
        XCTFail("accepted \(text)")
      } catch {
        XCTAssert(error.description.contains(expect), "\(text): \(error)")
        XCTAssert(error.description.hasPrefix("in.y4m: "))
      }
    }
  }

  func testWriteThenReadFileAllColorSpaces() throws {
    for cs in Y4MColorSpace.allCases {
      let path = temporaryPath("rt-\(cs.rawValue).y4m")
      defer { unlink(path) }
      let h = Y4MHeader(width: 7, height: 5, frameRate: (10, 1), colorSpace: cs)
      let w = try Y4MWriter(path: path, header: h)
      for i in 0..<3 {
        try patternFrame(h, i).withUnsafeBytes { try w.writeFrame($0, parameters: i == 1 ? ["Ixyz"] : []) }
      }
      try w.close()
      let r = try Y4MReader(path: path)
      XCTAssertEqual(r.header, h)
      var frame = [UInt8](repeating: 0, count: h.frameByteCount)
      for i in 0..<3 {
        let p = try frame.withUnsafeMutableBytes { try r.readFrame(into: $0) }
        XCTAssertEqual(p?.tokens ?? ["<nil>"], i == 1 ? ["Ixyz"] : [])
        XCTAssertEqual(frame, patternFrame(h, i), "frame \(i)")
      }
      XCTAssertNil(try frame.withUnsafeMutableBytes { try r.readFrame(into: $0) })
      XCTAssertEqual(r.framesRead, 3)
    }
  }

  func testTruncatedLastFrameKeepsWholeFrames() throws {
    let path = temporaryPath("trunc.y4m")
    defer { unlink(path) }
    let h = Y4MHeader(width: 16, height: 8)
    let w = try Y4MWriter(path: path, header: h)
    for i in 0..<3 { try patternFrame(h, i).withUnsafeBytes { try w.writeFrame($0) } }
    try w.close()
    XCTAssertEqual(truncate(path, off_t(h.line.utf8.count + 3 * (6 + h.frameByteCount) - 10)), 0)
    let r = try Y4MReader(path: path)
    var frame = [UInt8](repeating: 0, count: h.frameByteCount)
    for i in 0..<2 {
      XCTAssertNotNil(try frame.withUnsafeMutableBytes { try r.readFrame(into: $0) })
      XCTAssertEqual(frame, patternFrame(h, i))
    }
    do {
      _ = try frame.withUnsafeMutableBytes { try r.readFrame(into: $0) }
      XCTFail("truncated frame not reported")
    } catch {
      XCTAssertEqual(
        error as? Y4MError,
        .truncatedFrame(path: path, frame: 2, bytesRead: h.frameByteCount - 10, bytesExpected: h.frameByteCount))
      XCTAssert("\(error)".contains("the 2 frames before it are whole"), "\(error)")
    }
  }

  func testGarbageInsteadOfFrame() throws {
    let path = temporaryPath("garbage.y4m")
    defer { unlink(path) }
    try Data("YUV4MPEG2 W2 H2 C444\nFRAME\n123456789012FRAMX\n".utf8).write(to: URL(fileURLWithPath: path))
    let r = try Y4MReader(path: path)
    var frame = [UInt8](repeating: 0, count: 12)
    XCTAssertNotNil(try frame.withUnsafeMutableBytes { try r.readFrame(into: $0) })
    XCTAssertThrowsError(try frame.withUnsafeMutableBytes { try r.readFrame(into: $0) }) { e in
      XCTAssert("\(e)".contains("frame 1: bad FRAME header"), "\(e)")
    }
    // Not a Y4M file, and an empty one.
    try Data("P6\n2 2\n255\n".utf8).write(to: URL(fileURLWithPath: path))
    XCTAssertThrowsError(try Y4MReader(path: path)) { XCTAssert("\($0)".contains("YUV4MPEG2"), "\($0)") }
    try Data().write(to: URL(fileURLWithPath: path))
    XCTAssertThrowsError(try Y4MReader(path: path)) { XCTAssert("\($0)".contains("empty"), "\($0)") }
    XCTAssertThrowsError(try Y4MReader(path: "/nonexistent/x.y4m")) { XCTAssert("\($0)".contains("ENOENT"), "\($0)") }
  }

  func testFullDiskStopsCleanly() throws {
    let h = Y4MHeader(width: 8, height: 8)
    XCTAssertThrowsError(try Y4MWriter(path: "/dev/full", header: h)) { e in
      XCTAssertEqual(e as? Y4MError, .diskFull(path: "/dev/full", framesWritten: 0))
    }
  }

  /// ENOSPC in the middle of a frame on a regular file: the partial frame is cut off again.
  func testFullDiskRollsBackPartialFrame() throws {
    let h = Y4MHeader(width: 8, height: 8)
    let script = ScriptedSyscalls()
    script.seekable[5] = 0
    script.expect("write", .fill { _ in h.line.utf8.count })  // header
    script.expect("write", .value(6))  // FRAME\n
    script.expect("write", .value(h.frameByteCount))
    script.expect("write", .value(6))
    script.expect("write", .value(40))  // short write
    script.expect("write", .fail(.noSpace))
    script.expect("ftruncate", .value(0))
    let w = try Y4MWriter(descriptor: 5, path: "out.y4m", header: h, sys: Sys(script), ownsDescriptor: false)
    let frame = patternFrame(h, 0)
    try frame.withUnsafeBytes { try w.writeFrame($0) }
    XCTAssertThrowsError(try frame.withUnsafeBytes { try w.writeFrame($0) }) { e in
      XCTAssertEqual(e as? Y4MError, .diskFull(path: "out.y4m", framesWritten: 1))
    }
    XCTAssert(script.finished, "\(script.mismatches) \(script.remaining)")
    XCTAssertEqual(
      script.trace.last?.detail, "\(h.line.utf8.count + 6 + h.frameByteCount)", "truncated to the last whole frame")
    // Stopped: no further writes are attempted.
    XCTAssertThrowsError(try frame.withUnsafeBytes { try w.writeFrame($0) })
    XCTAssert(script.finished)
  }

  func testClosedPipeStopsCleanly() throws {
    var fds: [Int32] = [0, 0]
    XCTAssertEqual(pipe(&fds), 0)
    close(fds[0])
    let h = Y4MHeader(width: 8, height: 8)
    do {
      let w = try Y4MWriter(descriptor: fds[1], path: "pipe", header: h, ownsDescriptor: true)
      try patternFrame(h, 0).withUnsafeBytes { try w.writeFrame($0) }
      XCTFail("write to a closed pipe succeeded")
    } catch {
      XCTAssertEqual(error as? Y4MError, .closedPipe(path: "pipe", framesWritten: 0))
    }
  }

  /// A pipe delivering a stream in small pieces, more than the read buffer in total.
  func testStreamingFromPipe() throws {
    var fds: [Int32] = [0, 0]
    XCTAssertEqual(pipe(&fds), 0)
    let h = Y4MHeader(width: 64, height: 48, colorSpace: .c420mpeg2)
    let frames = 30
    let writerFD = fds[1]
    let t = Thread {
      var bytes = Array(h.line.utf8)
      for i in 0..<frames { bytes += Array("FRAME\n".utf8) + patternFrame(h, i) }
      var off = 0
      while off < bytes.count {
        let n = bytes[off..<min(off + 1000, bytes.count)].withUnsafeBytes { write(writerFD, $0.baseAddress!, $0.count) }
        if n <= 0 { break }
        off += n
      }
      close(writerFD)
    }
    t.start()
    let r = try Y4MReader(descriptor: fds[0], path: "pipe", ownsDescriptor: true)
    XCTAssertEqual(r.header, h)
    var frame = [UInt8](repeating: 0, count: h.frameByteCount)
    var n = 0
    while try frame.withUnsafeMutableBytes({ try r.readFrame(into: $0) }) != nil {
      XCTAssertEqual(frame, patternFrame(h, n))
      n += 1
    }
    XCTAssertEqual(n, frames)
  }

  /// ffmpeg's own Y4M through a pipe (skipped when ffmpeg is not installed), decoded to RGB.
  func testFFmpegPipe() throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg") else { throw XCTSkip("no ffmpeg") }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
    p.arguments = [
      "-v", "error", "-f", "lavfi", "-i", "color=c=red:size=63x47:rate=10", "-frames", "5", "-pix_fmt", "yuv420p",
      "-f", "yuv4mpegpipe", "-",
    ]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let r = try Y4MReader(descriptor: out.fileHandleForReading.fileDescriptor, path: "ffmpeg", ownsDescriptor: false)
    // (ffmpeg rounds 4:2:0 sizes down to even ones.)
    XCTAssertEqual(r.header.width, 62)
    XCTAssertEqual(r.header.height, 46)
    let w = r.header.width
    let h = r.header.height
    var frame = [UInt8](repeating: 0, count: r.frameByteCount)
    var rgb = [Float](repeating: 0, count: 3 * w * h)
    var n = 0
    while try frame.withUnsafeMutableBytes({ try r.readFrame(into: $0) }) != nil {
      n += 1
      frame.withUnsafeBytes { f in
        rgb.withUnsafeMutableBufferPointer { d in
          r.header.convertToRGB(f, to: PlanarRGB(packed: d.baseAddress!, width: w, height: h), matrix: .bt601)
        }
      }
      // ffmpeg's red in limited-range BT.601 comes back within a few code values.
      XCTAssertEqual(rgb[0], 1, accuracy: 0.02)
      XCTAssertEqual(rgb[w * h], 0, accuracy: 0.02)
      XCTAssertEqual(rgb[3 * w * h - 1], 0, accuracy: 0.02)
    }
    p.waitUntilExit()
    XCTAssertEqual(n, 5)
  }
}

/// The minor reproducers of `Tests/Fixtures/bad-inputs`: line limits enforced within the first
/// read, exact FRAME lines, frame rates within 32 bits, control bytes escaped in messages.
final class Y4MStrictnessTests: XCTestCase {
  func reader(_ bytes: [UInt8]) throws -> (Y4MReader, String) {
    let path = temporaryPath("strict-\(UUID().uuidString).y4m")
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return (try Y4MReader(path: path), path)
  }

  func testHeaderLongerThanItsLimitIsRefusedWithinTheFirstRead() throws {
    let bytes = Array(("YUV4MPEG2 W2 H2 C mono " + String(repeating: "XA=B ", count: 1000) + "\n").utf8)
    XCTAssertThrowsError(try reader(bytes)) { XCTAssertTrue("\($0)".contains("longer than 4096"), "\($0)") }
  }

  func testFrameLineLongerThanItsLimitIsRefused() throws {
    let bytes =
      Array(("YUV4MPEG2 W2 H2 Cmono\nFRAME " + String(repeating: "Xa ", count: 400) + "\n").utf8) + [0, 0, 0, 0]
    let (r, path) = try reader(bytes)
    defer { unlink(path) }
    var frame = [UInt8](repeating: 0, count: 4)
    XCTAssertThrowsError(try frame.withUnsafeMutableBytes { try r.readFrame(into: $0) }) {
      XCTAssertTrue("\($0)".contains("longer than 1024"), "\($0)")
    }
  }

  func testFrameWithALeadingSpaceIsRefused() throws {
    let (r, path) = try reader(Array("YUV4MPEG2 W2 H2 Cmono\n FRAME\n".utf8) + [0, 0, 0, 0])
    defer { unlink(path) }
    var frame = [UInt8](repeating: 0, count: 4)
    XCTAssertThrowsError(try frame.withUnsafeMutableBytes { try r.readFrame(into: $0) }) {
      XCTAssertTrue("\($0)".contains("expected 'FRAME'"), "\($0)")
    }
  }

  func testFrameRateBeyond32BitsIsRefused() {
    XCTAssertThrowsError(try Y4MHeader.parse(Array("YUV4MPEG2 W2 H2 F4611686018427387904:1".utf8), path: "p")) {
      XCTAssertTrue("\($0)".contains("frame rate"), "\($0)")
    }
  }

  func testControlBytesAreEscapedInMessages() {
    let e = Y4MError.badHeader(path: "in\u{1b}[2J.y4m", reason: "found '\u{1b}]0;owned\u{07}'")
    XCTAssertFalse(e.description.unicodeScalars.contains { $0.value < 0x20 })
    XCTAssertTrue(e.description.contains("in\\x1b[2J.y4m"), e.description)
    XCTAssertEqual(terminalSafe("plain"), "plain")
  }
}
