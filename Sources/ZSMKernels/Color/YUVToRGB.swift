// Y'CbCr bytes -> planar float RGB. Conventions (ranges, siting, rounding): see YCbCr.swift.

/// YUYV (V4L2 `YUYV`, a.k.a. YUY2; 4:2:2, bytes Y0 Cb Y1 Cr per two pixels) -> planar RGB.
///
/// Converts rows `rows` of `dst`; source row y starts at `src + y * srcRowBytes` and holds
/// ceil(width / 2) four-byte macropixels. Both pixels of a macropixel use its Cb/Cr
/// (sample-and-hold up-sampling).
public func convertYUYVToRGB(
  _ src: UnsafePointer<UInt8>, srcRowBytes: Int, to dst: PlanarRGB, coefficients: YCbCrCoefficients,
  rows: Range<Int>
) {
  let k = DecodeVectors(coefficients)
  let width = dst.width
  let mask = SIMD16<UInt32>(repeating: 0xFF)
  let lumaShift = SIMD16<UInt32>(0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16)
  for y in rows {
    let s = src + y &* srcRowBytes
    let r = dst.row(0, y)
    let g = dst.row(1, y)
    let b = dst.row(2, y)
    var x = 0
    while x &+ 16 <= width {
      // Each 32-bit word is one macropixel: Y0 | Cb << 8 | Y1 << 16 | Cr << 24 (little-endian).
      let words = duplicateLanes(UnsafeRawPointer(s + 2 &* x).loadUnaligned(as: SIMD8<UInt32>.self))
      let yv = (words &>> lumaShift) & mask
      let uv = (words &>> 8) & mask
      let vv = words &>> 24
      k.decode(wordsToFloat(yv), wordsToFloat(uv), wordsToFloat(vv), r + x, g + x, b + x, lanes: 16)
      x &+= 16
    }
    if x < width {
      let lanes = width &- x
      var yv = SIMD16<Float>()
      var uv = SIMD16<Float>()
      var vv = SIMD16<Float>()
      for i in 0..<lanes {
        let px = x &+ i
        yv[i] = Float(s[2 &* px])
        uv[i] = Float(s[4 &* (px >> 1) &+ 1])
        vv[i] = Float(s[4 &* (px >> 1) &+ 3])
      }
      k.decode(yv, uv, vv, r + x, g + x, b + x, lanes: lanes)
    }
  }
}

/// NV12 (a full-size Y plane, then one half-size plane of interleaved Cb Cr; 4:2:0) -> planar RGB.
///
/// Chroma row `y / 2` holds ceil(width / 2) Cb Cr pairs; each pair covers a 2x2 block.
public func convertNV12ToRGB(
  luma: UnsafePointer<UInt8>, lumaRowBytes: Int, chroma: UnsafePointer<UInt8>, chromaRowBytes: Int,
  to dst: PlanarRGB, coefficients: YCbCrCoefficients, rows: Range<Int>
) {
  let k = DecodeVectors(coefficients)
  let width = dst.width
  for y in rows {
    let ys = luma + y &* lumaRowBytes
    let cs = chroma + (y >> 1) &* chromaRowBytes
    let r = dst.row(0, y)
    let g = dst.row(1, y)
    let b = dst.row(2, y)
    var x = 0
    while x &+ 16 <= width {
      let yv = loadBytes16(ys + x)
      // 8 Cb Cr pairs for pixels x ..< x + 16 (x is even), each a 16-bit word Cb | Cr << 8.
      let c = duplicateLanes(UnsafeRawPointer(cs + x).loadUnaligned(as: SIMD8<UInt16>.self))
      let uv = c & SIMD16<UInt16>(repeating: 0xFF)
      let vv = c &>> 8
      k.decode(bytesToFloat(yv), halfWordsToFloat(uv), halfWordsToFloat(vv), r + x, g + x, b + x, lanes: 16)
      x &+= 16
    }
    if x < width {
      let lanes = width &- x
      var yv = SIMD16<Float>()
      var uv = SIMD16<Float>()
      var vv = SIMD16<Float>()
      for i in 0..<lanes {
        let px = x &+ i
        yv[i] = Float(ys[px])
        uv[i] = Float(cs[2 &* (px >> 1)])
        vv[i] = Float(cs[2 &* (px >> 1) &+ 1])
      }
      k.decode(yv, uv, vv, r + x, g + x, b + x, lanes: lanes)
    }
  }
}

/// Planar Y'CbCr (three planes) -> planar RGB: I420 / YU12 and Y4M `C420*` with
/// `chromaShiftX = chromaShiftY = 1`, 4:2:2 with (1, 0), 4:4:4 with (0, 0).
///
/// Chroma sample (x >> chromaShiftX, y >> chromaShiftY) covers luma pixel (x, y).
public func convertPlanarYUVToRGB(
  luma: UnsafePointer<UInt8>, lumaRowBytes: Int,
  cb: UnsafePointer<UInt8>, cr: UnsafePointer<UInt8>, chromaRowBytes: Int,
  chromaShiftX: Int, chromaShiftY: Int,
  to dst: PlanarRGB, coefficients: YCbCrCoefficients, rows: Range<Int>
) {
  let k = DecodeVectors(coefficients)
  let width = dst.width
  let halfX = chromaShiftX != 0
  for y in rows {
    let ys = luma + y &* lumaRowBytes
    let crow = (y >> chromaShiftY) &* chromaRowBytes
    let us = cb + crow
    let vs = cr + crow
    let r = dst.row(0, y)
    let g = dst.row(1, y)
    let b = dst.row(2, y)
    var x = 0
    if halfX {
      while x &+ 16 <= width {
        let yv = loadBytes16(ys + x)
        let uv = duplicateLanes(UnsafeRawPointer(us + (x >> 1)).loadUnaligned(as: SIMD8<UInt8>.self))
        let vv = duplicateLanes(UnsafeRawPointer(vs + (x >> 1)).loadUnaligned(as: SIMD8<UInt8>.self))
        k.decode(bytesToFloat(yv), bytesToFloat(uv), bytesToFloat(vv), r + x, g + x, b + x, lanes: 16)
        x &+= 16
      }
    } else {
      while x &+ 16 <= width {
        k.decode(
          bytesToFloat(loadBytes16(ys + x)), bytesToFloat(loadBytes16(us + x)), bytesToFloat(loadBytes16(vs + x)),
          r + x, g + x, b + x, lanes: 16)
        x &+= 16
      }
    }
    if x < width {
      let lanes = width &- x
      var yv = SIMD16<Float>()
      var uv = SIMD16<Float>()
      var vv = SIMD16<Float>()
      for i in 0..<lanes {
        let px = x &+ i
        yv[i] = Float(ys[px])
        uv[i] = Float(us[px >> chromaShiftX])
        vv[i] = Float(vs[px >> chromaShiftX])
      }
      k.decode(yv, uv, vv, r + x, g + x, b + x, lanes: lanes)
    }
  }
}

/// Grey (Y4M `Cmono`, V4L2 `GREY`) -> planar RGB: R = G = B = decoded Y'.
public func convertGrayToRGB(
  luma: UnsafePointer<UInt8>, lumaRowBytes: Int, to dst: PlanarRGB, coefficients: YCbCrCoefficients,
  rows: Range<Int>
) {
  let k = DecodeVectors(coefficients)
  let c128 = SIMD16<Float>(repeating: 128)
  let width = dst.width
  for y in rows {
    let ys = luma + y &* lumaRowBytes
    let r = dst.row(0, y)
    let g = dst.row(1, y)
    let b = dst.row(2, y)
    var x = 0
    while x &+ 16 <= width {
      k.decode(bytesToFloat(loadBytes16(ys + x)), c128, c128, r + x, g + x, b + x, lanes: 16)
      x &+= 16
    }
    if x < width {
      let lanes = width &- x
      var yv = SIMD16<Float>()
      for i in 0..<lanes { yv[i] = Float(ys[x &+ i]) }
      k.decode(yv, c128, c128, r + x, g + x, b + x, lanes: lanes)
    }
  }
}
