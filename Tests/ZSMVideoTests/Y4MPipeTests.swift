import Foundation
import XCTest
import ZSMVideo

/// `ffmpeg ... -f yuv4mpegpipe - | zsm-vmtest y4m-roundtrip | ...`: a real pipeline of
/// processes (skipped without ffmpeg or the built zsm-vmtest next to the test bundle).
final class Y4MPipeTests: XCTestCase {
  func tool() throws -> (ffmpeg: String, roundTrip: String) {
    let ffmpeg = "/usr/bin/ffmpeg"
    guard FileManager.default.isExecutableFile(atPath: ffmpeg) else { throw XCTSkip("no ffmpeg") }
    // The test runner is .build/<triple>/<config>/<Package>PackageTests.xctest; the
    // executables are built beside it.
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    let dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent()] {
      let path = candidate.appendingPathComponent("zsm-vmtest").path
      if FileManager.default.isExecutableFile(atPath: path) { return (ffmpeg, path) }
    }
    throw XCTSkip("zsm-vmtest not built next to the tests")
  }

  func run(_ script: String) throws -> (status: Int32, stdout: Data, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", "set -o pipefail; " + script]
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, data, errText)
  }

  func testFFmpegThroughThePipeAndBack() throws {
    let (ffmpeg, rt) = try tool()
    let src = "\(ffmpeg) -v error -f lavfi -i testsrc=size=64x48:rate=10 -frames 7 -pix_fmt yuv420p -f yuv4mpegpipe -"
    let original = try run(src)
    let through = try run("\(src) | \(rt) y4m-roundtrip")
    XCTAssertEqual(through.status, 0, through.stderr)
    XCTAssertEqual(through.stdout.count, original.stdout.count, "same stream length (7 frames)")
    // Y'CbCr -> RGB -> Y'CbCr: close on average (where the test pattern's saturated colours
    // leave the RGB gamut, clamping changes them; chroma is re-averaged).
    let a = [UInt8](original.stdout)
    let b = [UInt8](through.stdout)
    let headerEnd = a.firstIndex(of: 0x0A)! + 1
    var sum = 0
    for i in headerEnd..<min(a.count, b.count) { sum += abs(Int(a[i]) - Int(b[i])) }
    let mean = Double(sum) / Double(max(a.count - headerEnd, 1))
    XCTAssertLessThan(mean, 1.0, "mean absolute difference \(mean)")
  }

  func testReaderGoingAwayStopsTheWriterCleanly() throws {
    let (ffmpeg, rt) = try tool()
    let src = "\(ffmpeg) -v error -f lavfi -i testsrc=size=64x48:rate=10 -frames 60 -pix_fmt yuv420p -f yuv4mpegpipe -"
    let r = try run("\(src) 2>/dev/null | \(rt) y4m-roundtrip | head -c 20000 > /dev/null; echo ${PIPESTATUS[1]}")
    XCTAssertEqual(String(decoding: r.stdout, as: UTF8.self), "3\n", "exit status 3: closed pipe")
    XCTAssert(r.stderr.contains("the reader closed the pipe (EPIPE) after"), r.stderr)
  }
}
