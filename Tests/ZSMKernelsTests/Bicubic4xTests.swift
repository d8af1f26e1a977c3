import XCTest
import ZSMKernels

/// ZSM-Lite's global skip against a plain Double transcription of PyTorch's
/// `upsample_bicubic2d` (align_corners false, a = −0.75, clamped reads): every output sample is
/// Σ_ky Σ_kx w(ty)[ky] w(tx)[kx] · in[clamp(iy − 1 + ky)][clamp(ix − 1 + kx)].
final class Bicubic4xTests: XCTestCase {
  static func cubicWeights(_ t: Double) -> [Double] {
    let a = -0.75
    func near(_ x: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }
    func far(_ x: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]
  }

  /// One channel `[h][w]` upscaled x4, `[4h][4w]`.
  static func reference(_ x: [Float], height h: Int, width w: Int) -> [Double] {
    var out = [Double](repeating: 0, count: 16 * h * w)
    for oy in 0..<(4 * h) {
      let sy = (Double(oy) + 0.5) / 4 - 0.5
      let iy = Int(sy.rounded(.down))
      let wy = cubicWeights(sy - Double(iy))
      for ox in 0..<(4 * w) {
        let sx = (Double(ox) + 0.5) / 4 - 0.5
        let ix = Int(sx.rounded(.down))
        let wx = cubicWeights(sx - Double(ix))
        var sum = 0.0
        for ky in 0..<4 {
          let y = min(max(iy - 1 + ky, 0), h - 1)
          for kx in 0..<4 {
            let xx = min(max(ix - 1 + kx, 0), w - 1)
            sum += wy[ky] * wx[kx] * Double(x[y * w + xx])
          }
        }
        out[oy * 4 * w + ox] = sum
      }
    }
    return out
  }

  func testAddRowMatchesPyTorchBicubic() {
    var rng = TestRandom(seed: 41)
    // Widths below, at and above one SIMD16 block (the vector loop and its scalar tail).
    for (h, w) in [(1, 1), (3, 5), (4, 16), (5, 21), (2, 35)] {
      let channels = 3
      let a = rng.array(channels * h * w)
      let b = rng.array(channels * h * w)
      let base = rng.array(channels * 16 * h * w)
      for useSecond in [false, true] {
        var got = base
        var scratch = [Float](repeating: .nan, count: w)
        a.withUnsafeBufferPointer { pa in
          b.withUnsafeBufferPointer { pb in
            got.withUnsafeMutableBufferPointer { out in
              scratch.withUnsafeMutableBufferPointer { s in
                for row in 0..<(4 * h) {
                  Bicubic4x.addRow(
                    pa.baseAddress!, useSecond ? pb.baseAddress! : nil, channels: channels, height: h, width: w,
                    row: row, into: out.baseAddress! + row * 4 * w, planeStride: 16 * h * w, outputWidth: 4 * w,
                    scratch: s.baseAddress!)
                }
              }
            }
          }
        }
        for c in 0..<channels {
          let plane = Array(a[(c * h * w)..<((c + 1) * h * w)])
          var want = Self.reference(plane, height: h, width: w)
          if useSecond {
            let other = Self.reference(Array(b[(c * h * w)..<((c + 1) * h * w)]), height: h, width: w)
            for i in want.indices { want[i] = 0.5 * (want[i] + other[i]) }
          }
          for i in want.indices {
            let j = c * 16 * h * w + i
            XCTAssertEqual(
              Double(got[j]), Double(base[j]) + want[i], accuracy: 1e-5,
              "\(w)x\(h) channel \(c) sample \(i) second \(useSecond)")
          }
        }
      }
    }
  }

  func testCroppedOutputWidthLeavesTheRestAlone() {
    var rng = TestRandom(seed: 42)
    let (h, w) = (2, 6)
    let a = rng.array(h * w)
    var row = [Float](repeating: 0, count: 4 * w)
    var scratch = [Float](repeating: 0, count: w)
    a.withUnsafeBufferPointer { pa in
      Bicubic4x.addRow(
        pa.baseAddress!, nil, channels: 1, height: h, width: w, row: 3, into: &row, planeStride: 4 * w,
        outputWidth: 4 * w - 3, scratch: &scratch)
    }
    let want = Self.reference(a, height: h, width: w)
    for x in 0..<(4 * w - 3) { XCTAssertEqual(Double(row[x]), want[3 * 4 * w + x], accuracy: 1e-5) }
    XCTAssertEqual(Array(row[(4 * w - 3)...]), [0, 0, 0])
  }
}
