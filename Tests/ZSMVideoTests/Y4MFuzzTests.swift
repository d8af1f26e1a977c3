import Foundation
import XCTest
import ZSMVideo

/// Whatever bytes a user feeds in, the reader returns frames or a typed error; it never traps.
final class Y4MFuzzTests: XCTestCase {
  func testRandomCutsAndCorruptionsNeverCrash() throws {
    let h = Y4MHeader(width: 6, height: 4, colorSpace: .c420)
    var good = Array(h.line.utf8)
    for i in 0..<3 { good += Array("FRAME\n".utf8) + patternFrame(h, i) }
    let path = temporaryPath("fuzz.y4m")
    defer { unlink(path) }
    var rng = SplitMix64(state: 99)
    var outcomes: [String: Int] = [:]
    for round in 0..<300 {
      var bytes = good
      switch round % 3 {
      case 0: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
      case 1:
        for _ in 0..<4 { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
      default:
        let at = Int(rng.next() % UInt64(bytes.count))
        bytes.insert(contentsOf: (0..<Int(rng.next() % 9)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
      }
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      do {
        let r = try Y4MReader(path: path)
        guard r.frameByteCount < 1 << 26 else {
          outcomes["huge header", default: 0] += 1
          continue
        }
        var frame = [UInt8](repeating: 0, count: r.frameByteCount)
        while try frame.withUnsafeMutableBytes({ try r.readFrame(into: $0) }) != nil {}
        outcomes["clean", default: 0] += 1
      } catch let e as Y4MError {
        outcomes[String("\(e)".split(separator: ":").dropFirst().first ?? ""), default: 0] += 1
      }
    }
    XCTAssertGreaterThan(outcomes.count, 2, "\(outcomes)")
  }
}

struct SplitMix64 {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
