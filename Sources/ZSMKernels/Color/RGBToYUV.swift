// Planar float RGB -> Y'CbCr bytes. Conventions (ranges, siting, rounding): see YCbCr.swift.
// Chroma is the mean of the unrounded per-pixel Cb/Cr of its block, which equals the Cb/Cr of
// the block's mean R'G'B' (the transform is linear), then rounded once.

/// Planar RGB -> YUYV (4:2:2). Writes rows `rows`; each row holds ceil(width / 2) macropixels.
/// For an odd width the last macropixel repeats the last pixel as its Y1.
public func convertRGBToYUYV(
  _ src: PlanarRGB, to dst: UnsafeMutablePointer<UInt8>, dstRowBytes: Int, coefficients: YCbCrCoefficients,
  rows: Range<Int>
) {
  let k = EncodeVectors(coefficients)
  let width = src.width
  for y in rows {
    let r = UnsafePointer(src.row(0, y))
    let g = UnsafePointer(src.row(1, y))
    let b = UnsafePointer(src.row(2, y))
    let d = dst + y &* dstRowBytes
    var x = 0
    while x < width {
      let lanes = min(16, width &- x)
      let rv = loadFloatsReplicating(r + x, lanes: lanes)
      let gv = loadFloatsReplicating(g + x, lanes: lanes)
      let bv = loadFloatsReplicating(b + x, lanes: lanes)
      // Macropixel i is the 32-bit word Y(2i) | Cb << 8 | Y(2i+1) << 16 | Cr << 24, built
      // with integer ops (a 32-byte shuffle of the bytes compiled to ~25 permutes).
      let yi = toCodes(k.lumaValue(rv, gv, bv))
      let ui = toCodes(pairMeans(k.cbValue(rv, gv, bv))).lowHalf
      let vi = toCodes(pairMeans(k.crValue(rv, gv, bv))).lowHalf
      let y0 = SIMD8<Int32>(yi[0], yi[2], yi[4], yi[6], yi[8], yi[10], yi[12], yi[14])
      let y1 = SIMD8<Int32>(yi[1], yi[3], yi[5], yi[7], yi[9], yi[11], yi[13], yi[15])
      let words = y0 | (ui &<< 8) | (y1 &<< 16) | (vi &<< 24)
      let p = d + 2 &* x
      if lanes == 16 {
        UnsafeMutableRawPointer(p).storeBytes(of: words, as: SIMD8<Int32>.self)
      } else {
        let out = unsafeBitCast(words, to: SIMD32<UInt8>.self)
        let n = 4 &* ((lanes &+ 1) >> 1)
        for i in 0..<n { p[i] = out[i] }
      }
      x &+= 16
    }
  }
}

/// Planar RGB -> planar Y'CbCr with chroma subsampled by 2^chromaShiftX horizontally and
/// 2^chromaShiftY vertically (each 0 or 1): I420 / Y4M 4:2:0 is (1, 1), 4:4:4 is (0, 0).
/// Writes luma rows `rows` and every chroma row whose block starts in `rows`, so with
/// chromaShiftY = 1 `rows` should start at an even row when split across threads.
public func convertRGBToPlanarYUV(
  _ src: PlanarRGB, luma: UnsafeMutablePointer<UInt8>, lumaRowBytes: Int,
  cb: UnsafeMutablePointer<UInt8>, cr: UnsafeMutablePointer<UInt8>, chromaRowBytes: Int,
  chromaShiftX: Int, chromaShiftY: Int, coefficients: YCbCrCoefficients, rows: Range<Int>
) {
  encodePlanar(
    src, luma: luma, lumaRowBytes: lumaRowBytes, cb: cb, cr: cr, chromaRowBytes: chromaRowBytes, chromaStep: 1,
    chromaShiftX: chromaShiftX, chromaShiftY: chromaShiftY, coefficients: coefficients, rows: rows)
}

/// Planar RGB -> NV12 (Y plane, then interleaved Cb Cr at half size in both directions).
public func convertRGBToNV12(
  _ src: PlanarRGB, luma: UnsafeMutablePointer<UInt8>, lumaRowBytes: Int,
  chroma: UnsafeMutablePointer<UInt8>, chromaRowBytes: Int, coefficients: YCbCrCoefficients, rows: Range<Int>
) {
  encodePlanar(
    src, luma: luma, lumaRowBytes: lumaRowBytes, cb: chroma, cr: chroma + 1, chromaRowBytes: chromaRowBytes,
    chromaStep: 2, chromaShiftX: 1, chromaShiftY: 1, coefficients: coefficients, rows: rows)
}

/// Shared body: `chromaStep` is the distance in bytes between chroma samples of one plane
/// (1 planar, 2 interleaved).
@inline(__always)
func encodePlanar(
  _ src: PlanarRGB, luma: UnsafeMutablePointer<UInt8>, lumaRowBytes: Int,
  cb: UnsafeMutablePointer<UInt8>, cr: UnsafeMutablePointer<UInt8>, chromaRowBytes: Int, chromaStep: Int,
  chromaShiftX: Int, chromaShiftY: Int, coefficients: YCbCrCoefficients, rows: Range<Int>
) {
  let k = EncodeVectors(coefficients)
  let width = src.width
  let height = src.height
  var y = rows.lowerBound
  while y < rows.upperBound {
    // The 4:2:0 fast path below also writes the luma of row y + 1 when it is in `rows`.
    var rowsDone = 1
    defer { y &+= rowsDone }
    let r = UnsafePointer(src.row(0, y))
    let g = UnsafePointer(src.row(1, y))
    let b = UnsafePointer(src.row(2, y))
    let l = luma + y &* lumaRowBytes
    // Does this row start a chroma block? Then also read the row below (or repeat this one).
    let chromaRow = chromaShiftY == 0 || (y & 1) == 0
    let y2 = (chromaShiftY != 0 && y &+ 1 < height) ? y &+ 1 : y
    let r2 = UnsafePointer(src.row(0, y2))
    let g2 = UnsafePointer(src.row(1, y2))
    let b2 = UnsafePointer(src.row(2, y2))
    let cbRow = cb + (y >> chromaShiftY) &* chromaRowBytes
    let crRow = cr + (y >> chromaShiftY) &* chromaRowBytes
    var x = 0
    if chromaShiftX == 1 && chromaShiftY == 1 && chromaStep == 1 {
      let pairedLuma = chromaRow && y2 != y && y2 < rows.upperBound && width >= 32
      let l2 = luma + y2 &* lumaRowBytes
      // 4:2:0 planar (I420, Y4M): luma 16 pixels at a time, chroma 32 pixels (16 samples) at a
      // time with even/odd de-interleaves instead of per-lane shuffles. The arithmetic per value
      // is the general path's, so results are identical; the tail takes the general path.
      while x &+ 32 <= width {
        let r0 = UnsafeRawPointer(r + x).loadUnaligned(as: SIMD32<Float>.self)
        let g0 = UnsafeRawPointer(g + x).loadUnaligned(as: SIMD32<Float>.self)
        let b0 = UnsafeRawPointer(b + x).loadUnaligned(as: SIMD32<Float>.self)
        storeBytes16(k.luma(r0.lowHalf, g0.lowHalf, b0.lowHalf), l + x, lanes: 16)
        storeBytes16(k.luma(r0.highHalf, g0.highHalf, b0.highHalf), l + (x &+ 16), lanes: 16)
        if chromaRow {
          let r1 = UnsafeRawPointer(r2 + x).loadUnaligned(as: SIMD32<Float>.self)
          let g1 = UnsafeRawPointer(g2 + x).loadUnaligned(as: SIMD32<Float>.self)
          let b1 = UnsafeRawPointer(b2 + x).loadUnaligned(as: SIMD32<Float>.self)
          if pairedLuma {
            storeBytes16(k.luma(r1.lowHalf, g1.lowHalf, b1.lowHalf), l2 + x, lanes: 16)
            storeBytes16(k.luma(r1.highHalf, g1.highHalf, b1.highHalf), l2 + (x &+ 16), lanes: 16)
          }
          let rLow = (r0.lowHalf + r1.lowHalf) * 0.5
          let gLow = (g0.lowHalf + g1.lowHalf) * 0.5
          let bLow = (b0.lowHalf + b1.lowHalf) * 0.5
          let rHigh = (r0.highHalf + r1.highHalf) * 0.5
          let gHigh = (g0.highHalf + g1.highHalf) * 0.5
          let bHigh = (b0.highHalf + b1.highHalf) * 0.5
          let cbs = SIMD32(lowHalf: k.cbValue(rLow, gLow, bLow), highHalf: k.cbValue(rHigh, gHigh, bHigh))
          let crs = SIMD32(lowHalf: k.crValue(rLow, gLow, bLow), highHalf: k.crValue(rHigh, gHigh, bHigh))
          let ub = toBytes((cbs.evenHalf + cbs.oddHalf) * 0.5)
          let vb = toBytes((crs.evenHalf + crs.oddHalf) * 0.5)
          UnsafeMutableRawPointer(cbRow + (x >> 1)).storeBytes(of: ub, as: SIMD16<UInt8>.self)
          UnsafeMutableRawPointer(crRow + (x >> 1)).storeBytes(of: vb, as: SIMD16<UInt8>.self)
        }
        x &+= 32
      }
      if pairedLuma {
        // Row y + 1's luma tail, then skip that row.
        var tx = x
        while tx < width {
          let lanes = min(16, width &- tx)
          let rv = loadFloatsReplicating(r2 + tx, lanes: lanes)
          let gv = loadFloatsReplicating(g2 + tx, lanes: lanes)
          let bv = loadFloatsReplicating(b2 + tx, lanes: lanes)
          storeBytes16(k.luma(rv, gv, bv), l2 + tx, lanes: lanes)
          tx &+= 16
        }
        rowsDone = 2
      }
    }
    while x < width {
      let lanes = min(16, width &- x)
      var rv = loadFloatsReplicating(r + x, lanes: lanes)
      var gv = loadFloatsReplicating(g + x, lanes: lanes)
      var bv = loadFloatsReplicating(b + x, lanes: lanes)
      storeBytes16(k.luma(rv, gv, bv), l + x, lanes: lanes)
      if chromaRow {
        if chromaShiftY != 0 {
          rv = (rv + loadFloatsReplicating(r2 + x, lanes: lanes)) * 0.5
          gv = (gv + loadFloatsReplicating(g2 + x, lanes: lanes)) * 0.5
          bv = (bv + loadFloatsReplicating(b2 + x, lanes: lanes)) * 0.5
        }
        var n = lanes
        var cx = x
        var cbv = k.cbValue(rv, gv, bv)
        var crv = k.crValue(rv, gv, bv)
        if chromaShiftX != 0 {
          cbv = pairMeans(cbv)
          crv = pairMeans(crv)
          n = (lanes &+ 1) >> 1
          cx = x >> 1
        }
        let ub = toBytes(cbv)
        let vb = toBytes(crv)
        if chromaStep == 1 && n == 8 {
          UnsafeMutableRawPointer(cbRow + cx).storeBytes(of: ub.lowHalf, as: SIMD8<UInt8>.self)
          UnsafeMutableRawPointer(crRow + cx).storeBytes(of: vb.lowHalf, as: SIMD8<UInt8>.self)
        } else if chromaStep == 1 {
          storeBytes16(ub, cbRow + cx, lanes: n)
          storeBytes16(vb, crRow + cx, lanes: n)
        } else if n == 8 {
          // Interleaved Cb Cr (NV12): 8 pairs in one 16-byte store.
          let pair = SIMD16<UInt8>(
            ub[0], vb[0], ub[1], vb[1], ub[2], vb[2], ub[3], vb[3], ub[4], vb[4], ub[5], vb[5], ub[6], vb[6], ub[7],
            vb[7])
          UnsafeMutableRawPointer(cbRow + 2 &* cx).storeBytes(of: pair, as: SIMD16<UInt8>.self)
        } else {
          let pu = cbRow + chromaStep &* cx
          let pv = crRow + chromaStep &* cx
          for i in 0..<n {
            pu[chromaStep &* i] = ub[i]
            pv[chromaStep &* i] = vb[i]
          }
        }
      }
      x &+= 16
    }
  }
}
