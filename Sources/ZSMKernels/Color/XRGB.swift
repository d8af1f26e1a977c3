// Planar float RGB <-> XRGB8888 (DRM_FORMAT_XRGB8888: a little-endian 32-bit word
// 0xXXRRGGBB, so bytes B, G, R, X in memory), the scan-out format of every KMS driver.
// Conventions (rounding, clamping): see YCbCr.swift. Byte <-> float is v / 255.

/// Planar RGB -> XRGB8888, with the X byte set to 0xFF. Writes `src.width` pixels of each row
/// in `rows` to `dst + y * dstRowBytes` (dstRowBytes is a DRM pitch; it need not be 4 * width).
public func convertRGBToXRGB8888(
  _ src: PlanarRGB, to dst: UnsafeMutableRawPointer, dstRowBytes: Int, rows: Range<Int>
) {
  let s255 = SIMD16<Float>(repeating: 255)
  let width = src.width
  for y in rows {
    let r = src.row(0, y)
    let g = src.row(1, y)
    let b = src.row(2, y)
    let d = (dst + y &* dstRowBytes).assumingMemoryBound(to: UInt32.self)
    var x = 0
    while x < width {
      let lanes = min(16, width &- x)
      let rv = loadLanes(r + x, lanes)
      let gv = loadLanes(g + x, lanes)
      let bv = loadLanes(b + x, lanes)
      let ri = roundClamp255(rv * s255)
      let gi = roundClamp255(gv * s255)
      let bi = roundClamp255(bv * s255)
      let px = (ri &<< 16) | (gi &<< 8) | bi | SIMD16<Int32>(repeating: -16_777_216)  // 0xFF000000
      let pu = unsafeBitCast(px, to: SIMD16<UInt32>.self)
      if lanes == 16 {
        UnsafeMutableRawPointer(d + x).storeBytes(of: pu, as: SIMD16<UInt32>.self)
      } else {
        for i in 0..<lanes { d[x &+ i] = pu[i] }
      }
      x &+= 16
    }
  }
}

/// XRGB8888 -> planar RGB (the X byte is ignored). Reads `dst.width` pixels of each row in `rows`.
public func convertXRGB8888ToRGB(
  _ src: UnsafeRawPointer, srcRowBytes: Int, to dst: PlanarRGB, rows: Range<Int>
) {
  let inv = SIMD16<Float>(repeating: 1 / 255)
  let mask = SIMD16<Int32>(repeating: 0xFF)
  let width = dst.width
  for y in rows {
    let s = (src + y &* srcRowBytes).assumingMemoryBound(to: UInt32.self)
    let r = dst.row(0, y)
    let g = dst.row(1, y)
    let b = dst.row(2, y)
    var x = 0
    while x < width {
      let lanes = min(16, width &- x)
      var pv = SIMD16<Int32>()
      if lanes == 16 {
        pv = UnsafeRawPointer(s + x).loadUnaligned(as: SIMD16<Int32>.self)
      } else {
        for i in 0..<lanes { pv[i] = Int32(bitPattern: s[x &+ i]) }
      }
      storeLanes(toFloat((pv &>> 16) & mask) * inv, r + x, lanes)
      storeLanes(toFloat((pv &>> 8) & mask) * inv, g + x, lanes)
      storeLanes(toFloat(pv & mask) * inv, b + x, lanes)
      x &+= 16
    }
  }
}

/// Planar RGB -> XRGB8888 enlarged by an integer `factor` (each source pixel becomes a
/// factor x factor block; nearest-neighbour). Writes rows `rows` of the *destination*
/// (0 ..< src.height * factor), src.width * factor pixels each.
public func convertRGBToXRGB8888Scaled(
  _ src: PlanarRGB, factor: Int, to dst: UnsafeMutableRawPointer, dstRowBytes: Int, rows: Range<Int>
) {
  let s255 = SIMD16<Float>(repeating: 255)
  let width = src.width
  for dy in rows {
    let y = dy / factor
    let r = src.row(0, y)
    let g = src.row(1, y)
    let b = src.row(2, y)
    let d = (dst + dy &* dstRowBytes).assumingMemoryBound(to: UInt32.self)
    var x = 0
    while x < width {
      let lanes = min(16, width &- x)
      let ri = roundClamp255(loadLanes(r + x, lanes) * s255)
      let gi = roundClamp255(loadLanes(g + x, lanes) * s255)
      let bi = roundClamp255(loadLanes(b + x, lanes) * s255)
      let px = (ri &<< 16) | (gi &<< 8) | bi | SIMD16<Int32>(repeating: -16_777_216)
      for i in 0..<lanes {
        let v = UInt32(bitPattern: px[i])
        let o = d + (x &+ i) &* factor
        for j in 0..<factor { o[j] = v }
      }
      x &+= 16
    }
  }
}

/// Planar RGB -> XRGB8888 resized to `dstWidth` x `dstHeight` by bilinear interpolation
/// (pixel centres aligned: source coordinate = (d + 0.5) * src / dst - 0.5, clamped to the
/// edge). Writes destination rows `rows`.
public func convertRGBToXRGB8888Bilinear(
  _ src: PlanarRGB, to dst: UnsafeMutableRawPointer, dstRowBytes: Int, dstWidth: Int, dstHeight: Int,
  rows: Range<Int>
) {
  guard dstWidth > 0, dstHeight > 0, src.width > 0, src.height > 0 else { return }
  let sx = Float(src.width) / Float(dstWidth)
  let sy = Float(src.height) / Float(dstHeight)
  for dy in rows {
    var fy = (Float(dy) + 0.5) * sy - 0.5
    if fy < 0 { fy = 0 }
    var y0 = Int(fy)
    if y0 > src.height &- 1 { y0 = src.height &- 1 }
    let y1 = min(y0 &+ 1, src.height &- 1)
    let wy = fy - Float(y0)
    let d = (dst + dy &* dstRowBytes).assumingMemoryBound(to: UInt32.self)
    for dx in 0..<dstWidth {
      var fx = (Float(dx) + 0.5) * sx - 0.5
      if fx < 0 { fx = 0 }
      var x0 = Int(fx)
      if x0 > src.width &- 1 { x0 = src.width &- 1 }
      let x1 = min(x0 &+ 1, src.width &- 1)
      let wx = fx - Float(x0)
      var px: UInt32 = 0xFF00_0000
      for p in 0..<3 {
        let r0 = src.row(p, y0)
        let r1 = src.row(p, y1)
        let top = r0[x0] + (r0[x1] - r0[x0]) * wx
        let bot = r1[x0] + (r1[x1] - r1[x0]) * wx
        var v = (top + (bot - top) * wy) * 255
        if !(v >= 0) { v = 0 }
        if v > 255 { v = 255 }
        px |= UInt32(v.rounded(.toNearestOrEven)) << (16 - 8 * p)
      }
      d[dx] = px
    }
  }
}

/// Clamps to [0, 255] (NaN -> 0) and rounds half-to-even.
@_transparent
func roundClamp255(_ v: SIMD16<Float>) -> SIMD16<Int32> {
  let top = SIMD16<Float>(repeating: 255)
  let lo = v.replacing(with: 0, where: .!(v .>= SIMD16<Float>()))
  return roundToInt32(lo.replacing(with: top, where: lo .> top))
}
