import XCTest
import ZSMKernels

/// Scalar double-precision reference of the conventions in Sources/ZSMKernels/Color/YCbCr.swift.
enum ColorReference {
  static func params(_ m: YCbCrMatrix, _ r: YCbCrRange) -> (kr: Double, kb: Double, ys: Double, cs: Double, yo: Double)
  {
    (m.kr, m.kb, r == .limited ? 219 : 255, r == .limited ? 224 : 255, r == .limited ? 16 : 0)
  }

  static func decode(_ y: UInt8, _ u: UInt8, _ v: UInt8, _ m: YCbCrMatrix, _ range: YCbCrRange) -> (
    Double, Double, Double
  ) {
    let p = params(m, range)
    let kg = 1 - p.kr - p.kb
    let yy = (Double(y) - p.yo) / p.ys
    let pb = (Double(u) - 128) / p.cs
    let pr = (Double(v) - 128) / p.cs
    let r = yy + 2 * (1 - p.kr) * pr
    let b = yy + 2 * (1 - p.kb) * pb
    let g = (yy - p.kr * r - p.kb * b) / kg
    func c(_ x: Double) -> Double { min(1, max(0, x)) }
    return (c(r), c(g), c(b))
  }

  /// Unrounded code values.
  static func encode(_ r: Double, _ g: Double, _ b: Double, _ m: YCbCrMatrix, _ range: YCbCrRange) -> (
    Double, Double, Double
  ) {
    let p = params(m, range)
    let kg = 1 - p.kr - p.kb
    let yy = p.kr * r + kg * g + p.kb * b
    return (p.yo + p.ys * yy, 128 + p.cs * (b - yy) / (2 * (1 - p.kb)), 128 + p.cs * (r - yy) / (2 * (1 - p.kr)))
  }

  /// Clamp to [0, 255], round half to even.
  static func quantise(_ v: Double) -> UInt8 { UInt8(min(255, max(0, v)).rounded(.toNearestOrEven)) }
}

/// Byte outputs must equal the reference, except where the exact value lies so close to a
/// rounding tie that float and double arithmetic may land on different sides.
func assertByte(
  _ got: UInt8, _ exact: Double, _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line
) {
  let want = ColorReference.quantise(exact)
  if got == want { return }
  let clamped = min(255, max(0, exact))
  let nearTie = abs(clamped - clamped.rounded(.down) - 0.5) < 2e-3
  if nearTie && abs(Int(got) - Int(want)) <= 1 { return }
  XCTFail("\(what()): got \(got), want \(want) (exact \(exact))", file: file, line: line)
}

struct SplitMix {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
  /// Mostly in [0, 1], some outside to exercise clamping.
  mutating func float() -> Float { Float(Double(next() >> 11) / Double(1 << 53)) * 1.2 - 0.1 }
}

let allCoefficients: [YCbCrCoefficients] = [
  YCbCrCoefficients(.bt601, .limited), YCbCrCoefficients(.bt601, .full),
  YCbCrCoefficients(.bt709, .limited), YCbCrCoefficients(.bt709, .full),
]
/// Odd and even sizes, narrower and wider than one 16-lane vector.
let testSizes: [(w: Int, h: Int)] = [(1, 1), (2, 2), (3, 5), (16, 2), (17, 3), (33, 4), (47, 7), (64, 2)]

final class ColorConversionTests: XCTestCase {
  func checkRGB(
    _ rgb: [Float], _ w: Int, _ h: Int, _ c: YCbCrCoefficients, _ name: String,
    expected: (Int, Int) -> (Double, Double, Double)
  ) {
    for y in 0..<h {
      for x in 0..<w {
        let e = expected(x, y)
        let got = (rgb[y * w + x], rgb[w * h + y * w + x], rgb[2 * w * h + y * w + x])
        if abs(Double(got.0) - e.0) > 2e-6 || abs(Double(got.1) - e.1) > 2e-6 || abs(Double(got.2) - e.2) > 2e-6 {
          XCTFail("\(name) \(w)x\(h) \(c.matrix) \(c.range) at (\(x),\(y)): got \(got), want \(e)")
          return
        }
        XCTAssert(got.0 >= 0 && got.0 <= 1 && got.1 >= 0 && got.1 <= 1 && got.2 >= 0 && got.2 <= 1)
      }
    }
  }

  func testYUYVToRGBMatchesReference() {
    var rng = SplitMix(state: 1)
    for c in allCoefficients {
      for (w, h) in testSizes {
        let rowBytes = ((w + 1) / 2) * 4 + 3  // padded rows
        let src = (0..<(rowBytes * h)).map { _ in rng.byte() }
        var rgb = [Float](repeating: -7, count: 3 * w * h)
        src.withUnsafeBufferPointer { s in
          rgb.withUnsafeMutableBufferPointer { d in
            convertYUYVToRGB(
              s.baseAddress!, srcRowBytes: rowBytes, to: PlanarRGB(packed: d.baseAddress!, width: w, height: h),
              coefficients: c, rows: 0..<h)
          }
        }
        checkRGB(rgb, w, h, c, "YUYV") { x, y in
          let m = y * rowBytes + (x / 2) * 4
          return ColorReference.decode(src[y * rowBytes + 2 * x], src[m + 1], src[m + 3], c.matrix, c.range)
        }
      }
    }
  }

  func testNV12ToRGBMatchesReference() {
    var rng = SplitMix(state: 2)
    for c in allCoefficients {
      for (w, h) in testSizes {
        let lumaRow = w + 5
        let chromaRow = 2 * ((w + 1) / 2) + 1
        let luma = (0..<(lumaRow * h)).map { _ in rng.byte() }
        let chroma = (0..<(chromaRow * ((h + 1) / 2))).map { _ in rng.byte() }
        var rgb = [Float](repeating: -7, count: 3 * w * h)
        rgb.withUnsafeMutableBufferPointer { d in
          convertNV12ToRGB(
            luma: luma, lumaRowBytes: lumaRow, chroma: chroma, chromaRowBytes: chromaRow,
            to: PlanarRGB(packed: d.baseAddress!, width: w, height: h), coefficients: c, rows: 0..<h)
        }
        checkRGB(rgb, w, h, c, "NV12") { x, y in
          let m = (y / 2) * chromaRow + (x / 2) * 2
          return ColorReference.decode(luma[y * lumaRow + x], chroma[m], chroma[m + 1], c.matrix, c.range)
        }
      }
    }
  }

  func testPlanarYUVToRGBMatchesReference() {
    var rng = SplitMix(state: 3)
    for c in allCoefficients {
      for (w, h) in testSizes {
        for (shx, shy) in [(1, 1), (0, 0), (1, 0)] {
          let cw = (w + shx) >> shx
          let ch = (h + shy) >> shy
          let luma = (0..<(w * h)).map { _ in rng.byte() }
          let cb = (0..<(cw * ch)).map { _ in rng.byte() }
          let cr = (0..<(cw * ch)).map { _ in rng.byte() }
          var rgb = [Float](repeating: -7, count: 3 * w * h)
          rgb.withUnsafeMutableBufferPointer { d in
            convertPlanarYUVToRGB(
              luma: luma, lumaRowBytes: w, cb: cb, cr: cr, chromaRowBytes: cw, chromaShiftX: shx, chromaShiftY: shy,
              to: PlanarRGB(packed: d.baseAddress!, width: w, height: h), coefficients: c, rows: 0..<h)
          }
          checkRGB(rgb, w, h, c, "planar \(shx)\(shy)") { x, y in
            let m = (y >> shy) * cw + (x >> shx)
            return ColorReference.decode(luma[y * w + x], cb[m], cr[m], c.matrix, c.range)
          }
        }
        let luma = (0..<(w * h)).map { _ in rng.byte() }
        var rgb = [Float](repeating: -7, count: 3 * w * h)
        rgb.withUnsafeMutableBufferPointer { d in
          convertGrayToRGB(
            luma: luma, lumaRowBytes: w, to: PlanarRGB(packed: d.baseAddress!, width: w, height: h), coefficients: c,
            rows: 0..<h)
        }
        checkRGB(rgb, w, h, c, "gray") { x, y in ColorReference.decode(luma[y * w + x], 128, 128, c.matrix, c.range) }
      }
    }
  }

  /// Reference chroma of the block (bx, by) of size (1 << shx) x (1 << shy): the mean RGB of
  /// the pixels present, encoded.
  func blockChroma(
    _ rgb: [Float], _ w: Int, _ h: Int, _ bx: Int, _ by: Int, _ shx: Int, _ shy: Int, _ c: YCbCrCoefficients
  )
    -> (Double, Double)
  {
    var s = (0.0, 0.0, 0.0)
    var n = 0.0
    for y in (by << shy)..<min(h, (by + 1) << shy) {
      for x in (bx << shx)..<min(w, (bx + 1) << shx) {
        s.0 += Double(rgb[y * w + x])
        s.1 += Double(rgb[w * h + y * w + x])
        s.2 += Double(rgb[2 * w * h + y * w + x])
        n += 1
      }
    }
    let e = ColorReference.encode(s.0 / n, s.1 / n, s.2 / n, c.matrix, c.range)
    return (e.1, e.2)
  }

  func lumaRef(_ rgb: [Float], _ w: Int, _ h: Int, _ x: Int, _ y: Int, _ c: YCbCrCoefficients) -> Double {
    ColorReference.encode(
      Double(rgb[y * w + x]), Double(rgb[w * h + y * w + x]), Double(rgb[2 * w * h + y * w + x]), c.matrix, c.range
    ).0
  }

  func testRGBToPlanarYUVAndNV12MatchReference() {
    var rng = SplitMix(state: 4)
    for c in allCoefficients {
      for (w, h) in testSizes {
        var rgb = (0..<(3 * w * h)).map { _ in rng.float() }
        for (shx, shy) in [(1, 1), (0, 0)] {
          let cw = (w + shx) >> shx
          let ch = (h + shy) >> shy
          var luma = [UInt8](repeating: 0, count: w * h)
          var cb = [UInt8](repeating: 0, count: cw * ch)
          var cr = [UInt8](repeating: 0, count: cw * ch)
          rgb.withUnsafeMutableBufferPointer { s in
            convertRGBToPlanarYUV(
              PlanarRGB(packed: s.baseAddress!, width: w, height: h), luma: &luma, lumaRowBytes: w, cb: &cb, cr: &cr,
              chromaRowBytes: cw, chromaShiftX: shx, chromaShiftY: shy, coefficients: c, rows: 0..<h)
          }
          for y in 0..<h {
            for x in 0..<w { assertByte(luma[y * w + x], lumaRef(rgb, w, h, x, y, c), "Y \(w)x\(h) (\(x),\(y))") }
          }
          for by in 0..<ch {
            for bx in 0..<cw {
              let e = blockChroma(rgb, w, h, bx, by, shx, shy, c)
              assertByte(cb[by * cw + bx], e.0, "Cb \(shx)\(shy) \(w)x\(h) \(c.matrix) \(c.range) (\(bx),\(by))")
              assertByte(cr[by * cw + bx], e.1, "Cr \(shx)\(shy) \(w)x\(h) (\(bx),\(by))")
            }
          }
        }
        // NV12 with padded rows; the padding must stay untouched.
        let cw = (w + 1) / 2
        let ch = (h + 1) / 2
        var luma = [UInt8](repeating: 0xEE, count: (w + 3) * h)
        var chroma = [UInt8](repeating: 0xEE, count: (2 * cw + 3) * ch)
        rgb.withUnsafeMutableBufferPointer { s in
          convertRGBToNV12(
            PlanarRGB(packed: s.baseAddress!, width: w, height: h), luma: &luma, lumaRowBytes: w + 3,
            chroma: &chroma, chromaRowBytes: 2 * cw + 3, coefficients: c, rows: 0..<h)
        }
        for y in 0..<h {
          for x in 0..<w { assertByte(luma[y * (w + 3) + x], lumaRef(rgb, w, h, x, y, c), "NV12 Y") }
          for x in w..<(w + 3) { XCTAssertEqual(luma[y * (w + 3) + x], 0xEE, "NV12 luma padding") }
        }
        for by in 0..<ch {
          for bx in 0..<cw {
            let e = blockChroma(rgb, w, h, bx, by, 1, 1, c)
            assertByte(chroma[by * (2 * cw + 3) + 2 * bx], e.0, "NV12 Cb")
            assertByte(chroma[by * (2 * cw + 3) + 2 * bx + 1], e.1, "NV12 Cr")
          }
          for x in (2 * cw)..<(2 * cw + 3) {
            XCTAssertEqual(chroma[by * (2 * cw + 3) + x], 0xEE, "NV12 chroma padding")
          }
        }
      }
    }
  }

  func testRGBToYUYVMatchesReference() {
    var rng = SplitMix(state: 5)
    for c in allCoefficients {
      for (w, h) in testSizes {
        var rgb = (0..<(3 * w * h)).map { _ in rng.float() }
        let macro = (w + 1) / 2
        let rowBytes = macro * 4 + 2
        var out = [UInt8](repeating: 0xEE, count: rowBytes * h)
        rgb.withUnsafeMutableBufferPointer { s in
          convertRGBToYUYV(
            PlanarRGB(packed: s.baseAddress!, width: w, height: h), to: &out, dstRowBytes: rowBytes, coefficients: c,
            rows: 0..<h)
        }
        for y in 0..<h {
          for m in 0..<macro {
            let x0 = 2 * m
            let x1 = min(2 * m + 1, w - 1)
            assertByte(out[y * rowBytes + 4 * m], lumaRef(rgb, w, h, x0, y, c), "YUYV Y0")
            assertByte(out[y * rowBytes + 4 * m + 2], lumaRef(rgb, w, h, x1, y, c), "YUYV Y1")
            let e = blockChroma(rgb, w, h, m, y, 1, 0, c)
            assertByte(out[y * rowBytes + 4 * m + 1], e.0, "YUYV Cb \(w)x\(h) m=\(m)")
            assertByte(out[y * rowBytes + 4 * m + 3], e.1, "YUYV Cr")
          }
          XCTAssertEqual(out[y * rowBytes + macro * 4], 0xEE, "YUYV padding")
        }
      }
    }
  }

  func testXRGB8888BothWays() {
    var rng = SplitMix(state: 6)
    for (w, h) in testSizes {
      var rgb = (0..<(3 * w * h)).map { _ in rng.float() }
      if w * h > 3 {
        rgb[0] = .nan
        rgb[1] = -.infinity
        rgb[2] = .infinity
      }
      let pitch = w * 4 + 8
      var out = [UInt8](repeating: 0xEE, count: pitch * h)
      rgb.withUnsafeMutableBufferPointer { s in
        out.withUnsafeMutableBytes { d in
          convertRGBToXRGB8888(
            PlanarRGB(packed: s.baseAddress!, width: w, height: h), to: d.baseAddress!, dstRowBytes: pitch, rows: 0..<h)
        }
      }
      for y in 0..<h {
        for x in 0..<w {
          let o = y * pitch + 4 * x
          for (p, byteIndex) in [(0, 2), (1, 1), (2, 0)] {
            let v = rgb[p * w * h + y * w + x]
            let exact = v.isNaN ? 0 : Double(v * 255)  // the kernel's own float product, then the rounding rule
            XCTAssertEqual(
              out[o + byteIndex], ColorReference.quantise(exact), "XRGB plane \(p) at (\(x),\(y)) from \(v)")
          }
          XCTAssertEqual(out[o + 3], 0xFF)
        }
        XCTAssertEqual(out[y * pitch + 4 * w], 0xEE, "XRGB pitch padding")
      }
      var back = [Float](repeating: -1, count: 3 * w * h)
      out.withUnsafeBytes { s in
        back.withUnsafeMutableBufferPointer { d in
          convertXRGB8888ToRGB(
            s.baseAddress!, srcRowBytes: pitch, to: PlanarRGB(packed: d.baseAddress!, width: w, height: h), rows: 0..<h)
        }
      }
      for y in 0..<h {
        for x in 0..<w {
          for (p, byteIndex) in [(0, 2), (1, 1), (2, 0)] {
            XCTAssertEqual(
              Double(back[p * w * h + y * w + x]), Double(out[y * pitch + 4 * x + byteIndex]) / 255, accuracy: 1e-7)
          }
        }
      }
    }
  }

  /// Exact ties (v * 255 == k + 0.5 in float) must round to the even neighbour.
  func testRoundHalfToEven() {
    var values: [Float] = []
    var expect: [UInt8] = []
    for k in 0..<255 {
      var v = Float(Double(k) + 0.5) / 255
      for _ in 0..<8 {
        if v * 255 == Float(k) + 0.5 { break }
        v = v * 255 < Float(k) + 0.5 ? v.nextUp : v.nextDown
      }
      guard v * 255 == Float(k) + 0.5 else { continue }
      values.append(v)
      expect.append(UInt8(k % 2 == 0 ? k : k + 1))
    }
    XCTAssertGreaterThan(values.count, 100, "found enough exact ties")
    let w = values.count
    var planes = values + values + values
    var out = [UInt32](repeating: 0, count: w)
    planes.withUnsafeMutableBufferPointer { s in
      out.withUnsafeMutableBytes { d in
        convertRGBToXRGB8888(
          PlanarRGB(packed: s.baseAddress!, width: w, height: 1), to: d.baseAddress!, dstRowBytes: 4 * w, rows: 0..<1)
      }
    }
    for i in 0..<w {
      XCTAssertEqual(UInt8(out[i] & 0xFF), expect[i], "tie \(values[i] * 255)")
      XCTAssertEqual(UInt8((out[i] >> 16) & 0xFF), expect[i])
    }
  }

  func testRoundTripOfFlatColours() {
    // Limited-range I420 round trip of flat patches: within one code value.
    for c in allCoefficients {
      let w = 18
      let h = 6
      var rgb = [Float](repeating: 0, count: 3 * w * h)
      for i in 0..<(w * h) {
        rgb[i] = 0.75
        rgb[w * h + i] = 0.25
        rgb[2 * w * h + i] = 0.5
      }
      var luma = [UInt8](repeating: 0, count: w * h)
      var cb = [UInt8](repeating: 0, count: (w / 2) * (h / 2))
      var cr = cb
      var back = [Float](repeating: 0, count: 3 * w * h)
      rgb.withUnsafeMutableBufferPointer { s in
        convertRGBToPlanarYUV(
          PlanarRGB(packed: s.baseAddress!, width: w, height: h), luma: &luma, lumaRowBytes: w, cb: &cb, cr: &cr,
          chromaRowBytes: w / 2, chromaShiftX: 1, chromaShiftY: 1, coefficients: c, rows: 0..<h)
      }
      back.withUnsafeMutableBufferPointer { d in
        convertPlanarYUVToRGB(
          luma: luma, lumaRowBytes: w, cb: cb, cr: cr, chromaRowBytes: w / 2, chromaShiftX: 1, chromaShiftY: 1,
          to: PlanarRGB(packed: d.baseAddress!, width: w, height: h), coefficients: c, rows: 0..<h)
      }
      for i in 0..<(3 * w * h) { XCTAssertEqual(back[i], rgb[i], accuracy: 1.5 / 219) }
    }
  }
}

/// Rows split at even rows (as a worker pool splits them) give the same bytes as one call,
/// including the 4:2:0 path that writes two luma rows per chroma row.
final class ColorRowSplitTests: XCTestCase {
  func testI420RowSplitsMatchOneCall() {
    var rng = SplitMix(state: 9)
    for (w, h) in [(47, 7), (64, 6), (96, 9)] {
      var rgb = (0..<(3 * w * h)).map { _ in rng.float() }
      let cw = (w + 1) / 2
      let ch = (h + 1) / 2
      func encode(_ splits: [Range<Int>]) -> [UInt8] {
        var out = [UInt8](repeating: 7, count: w * h + 2 * cw * ch)
        rgb.withUnsafeMutableBufferPointer { s in
          out.withUnsafeMutableBufferPointer { o in
            let luma = o.baseAddress!
            for rows in splits {
              convertRGBToPlanarYUV(
                PlanarRGB(packed: s.baseAddress!, width: w, height: h), luma: luma, lumaRowBytes: w,
                cb: luma + w * h, cr: luma + w * h + cw * ch, chromaRowBytes: cw, chromaShiftX: 1, chromaShiftY: 1,
                coefficients: YCbCrCoefficients(.bt601, .limited), rows: rows)
            }
          }
        }
        return out
      }
      let whole = encode([0..<h])
      XCTAssertEqual(encode([0..<2, 2..<4, 4..<h]), whole, "\(w)x\(h)")
      XCTAssertEqual(encode((0..<h).map { $0..<($0 + 1) }), whole, "\(w)x\(h) row by row")
    }
  }
}
