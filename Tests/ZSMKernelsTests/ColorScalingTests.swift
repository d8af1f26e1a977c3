import XCTest
import ZSMKernels

/// The display-side placement kernels: integer (nearest) and bilinear enlargement to XRGB8888.
final class ColorScalingTests: XCTestCase {
  func frame(_ w: Int, _ h: Int, _ f: (Int, Int, Int) -> Float) -> [Float] {
    var out = [Float](repeating: 0, count: 3 * w * h)
    for p in 0..<3 { for y in 0..<h { for x in 0..<w { out[p * w * h + y * w + x] = f(p, x, y) } } }
    return out
  }

  func testIntegerScalingRepeatsEachPixel() {
    let (w, h, k) = (5, 3, 3)
    var src = frame(w, h) { p, x, y in Float((p * 50 + x * 7 + y * 13) % 256) / 255 }
    var plain = [UInt32](repeating: 0, count: w * h)
    var big = [UInt32](repeating: 0, count: w * k * h * k)
    src.withUnsafeMutableBufferPointer { s in
      let v = PlanarRGB(packed: s.baseAddress!, width: w, height: h)
      plain.withUnsafeMutableBytes { convertRGBToXRGB8888(v, to: $0.baseAddress!, dstRowBytes: 4 * w, rows: 0..<h) }
      big.withUnsafeMutableBytes {
        convertRGBToXRGB8888Scaled(v, factor: k, to: $0.baseAddress!, dstRowBytes: 4 * w * k, rows: 0..<(h * k))
      }
    }
    for y in 0..<(h * k) {
      for x in 0..<(w * k) { XCTAssertEqual(big[y * w * k + x], plain[(y / k) * w + x / k], "(\(x),\(y))") }
    }
  }

  func testBilinearKeepsSizeAndFlatColour() {
    let (w, h) = (7, 4)
    var src = frame(w, h) { p, x, y in Float((p * 50 + x * 7 + y * 13) % 256) / 255 }
    var plain = [UInt32](repeating: 0, count: w * h)
    var same = [UInt32](repeating: 0, count: w * h)
    src.withUnsafeMutableBufferPointer { s in
      let v = PlanarRGB(packed: s.baseAddress!, width: w, height: h)
      plain.withUnsafeMutableBytes { convertRGBToXRGB8888(v, to: $0.baseAddress!, dstRowBytes: 4 * w, rows: 0..<h) }
      same.withUnsafeMutableBytes {
        convertRGBToXRGB8888Bilinear(v, to: $0.baseAddress!, dstRowBytes: 4 * w, dstWidth: w, dstHeight: h, rows: 0..<h)
      }
    }
    XCTAssertEqual(same, plain, "1:1 bilinear is the plain conversion")
    var flat = frame(3, 2) { p, _, _ in [0.2, 0.4, 0.6][p] }
    var out = [UInt32](repeating: 0, count: 11 * 9)
    flat.withUnsafeMutableBufferPointer { s in
      out.withUnsafeMutableBytes {
        convertRGBToXRGB8888Bilinear(
          PlanarRGB(packed: s.baseAddress!, width: 3, height: 2), to: $0.baseAddress!, dstRowBytes: 44, dstWidth: 11,
          dstHeight: 9, rows: 0..<9)
      }
    }
    let want: UInt32 = 0xFF00_0000 | 51 << 16 | 102 << 8 | 153
    XCTAssert(out.allSatisfy { $0 == want }, "flat colour stays flat: \(String(out[0], radix: 16))")
  }
}
