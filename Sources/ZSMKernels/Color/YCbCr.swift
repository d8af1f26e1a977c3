// Colour conversion between the network's frame format (planar float RGB in [0, 1], three
// planes [3][H][W]) and the byte formats of cameras, files and displays.
//
// Conventions shared by every kernel in this folder:
// - Y'CbCr uses the BT.601 or BT.709 luma weights (Kr, Kb), in limited range (Y' 16...235,
//   Cb/Cr 16...240, "video" or "TV" range) or full range (0...255, as JPEG). 8-bit code values.
// - Float RGB is gamma-encoded R'G'B' (no transfer function is applied either way).
// - Every output is clamped to its range; byte outputs are rounded half-to-even (the
//   `roundToInt32` trick rounds in the FPU's default round-to-nearest-even mode).
// - Chroma siting and resampling: chroma is *up*-sampled by sample-and-hold (each chroma
//   sample covers its 2x1 (4:2:2) or 2x2 (4:2:0) block of luma pixels) and *down*-sampled by
//   the box mean of that block. This treats every 4:2:0 siting (MPEG-2 left, JPEG centred,
//   PAL-DV) alike: the error is a shift of at most half a chroma sample. At an odd right or
//   bottom edge the block holds one column or row, and the mean is over the pixels present.
// - Byte images are addressed by a base pointer and a row stride in bytes; float planes by
//   `PlanarRGB`. Kernels never allocate and never read or write outside the rows and columns
//   they are given (4:2:x chroma planes hold ceil(W/2) samples per row, ceil(H/2) rows for 4:2:0).

/// The luma weights of a Y'CbCr matrix.
public enum YCbCrMatrix: Sendable, Equatable {
  /// ITU-R BT.601 (SD): Kr = 0.299, Kb = 0.114.
  case bt601
  /// ITU-R BT.709 (HD): Kr = 0.2126, Kb = 0.0722.
  case bt709

  public var kr: Double { self == .bt601 ? 0.299 : 0.2126 }
  public var kb: Double { self == .bt601 ? 0.114 : 0.0722 }
}

/// Quantisation range of 8-bit Y'CbCr.
public enum YCbCrRange: Sendable, Equatable {
  /// Y' 16...235, Cb/Cr 16...240 (the usual range of cameras and video files).
  case limited
  /// Y', Cb, Cr 0...255 (JPEG, MJPEG webcams).
  case full
}

/// Precomputed coefficients for one (matrix, range) pair, in the units the kernels use:
/// decoding takes code values 0...255 to RGB 0...1, encoding takes RGB 0...1 to code values.
public struct YCbCrCoefficients: Sendable {
  // decode: R = r0 + Y ys + Cr rv; G = g0 + Y ys + Cb gu + Cr gv; B = b0 + Y ys + Cb bu
  public var ys: Float, rv: Float, gu: Float, gv: Float, bu: Float
  public var r0: Float, g0: Float, b0: Float
  // encode: Y = yo + R yr + G yg + B yb; Cb = 128 + R ur + G ug + B ub; Cr = 128 + R vr + G vg + B vb
  public var yo: Float, yr: Float, yg: Float, yb: Float
  public var ur: Float, ug: Float, ub: Float
  public var vr: Float, vg: Float, vb: Float

  public let matrix: YCbCrMatrix
  public let range: YCbCrRange

  public init(_ matrix: YCbCrMatrix, _ range: YCbCrRange) {
    self.matrix = matrix
    self.range = range
    let kr = matrix.kr
    let kb = matrix.kb
    let kg = 1 - kr - kb
    let yScale: Double = range == .limited ? 219 : 255
    let cScale: Double = range == .limited ? 224 : 255
    let yOff: Double = range == .limited ? 16 : 0
    // Encode.
    yo = Float(yOff)
    yr = Float(yScale * kr)
    yg = Float(yScale * kg)
    yb = Float(yScale * kb)
    ur = Float(cScale * -kr / (2 * (1 - kb)))
    ug = Float(cScale * -kg / (2 * (1 - kb)))
    ub = Float(cScale * 0.5)
    vr = Float(cScale * 0.5)
    vg = Float(cScale * -kg / (2 * (1 - kr)))
    vb = Float(cScale * -kb / (2 * (1 - kr)))
    // Decode.
    let ysD = 1 / yScale
    let y0 = -yOff / yScale
    let rvD = 2 * (1 - kr) / cScale
    let buD = 2 * (1 - kb) / cScale
    let guD = -2 * kb * (1 - kb) / (kg * cScale)
    let gvD = -2 * kr * (1 - kr) / (kg * cScale)
    ys = Float(ysD)
    rv = Float(rvD)
    bu = Float(buD)
    gu = Float(guD)
    gv = Float(gvD)
    r0 = Float(y0 - 128 * rvD)
    g0 = Float(y0 - 128 * (guD + gvD))
    b0 = Float(y0 - 128 * buD)
  }
}

/// A view of a planar float RGB frame: plane p (0 = R, 1 = G, 2 = B), row y, column x is at
/// `base[p * planeStride + y * rowStride + x]`. The view does not own memory.
public struct PlanarRGB {
  public var base: UnsafeMutablePointer<Float>
  public var width: Int
  public var height: Int
  public var rowStride: Int
  public var planeStride: Int

  @inlinable
  public init(base: UnsafeMutablePointer<Float>, width: Int, height: Int, rowStride: Int, planeStride: Int) {
    self.base = base
    self.width = width
    self.height = height
    self.rowStride = rowStride
    self.planeStride = planeStride
  }

  /// A tightly packed [3][height][width] frame at `base`.
  @inlinable
  public init(packed base: UnsafeMutablePointer<Float>, width: Int, height: Int) {
    self.init(base: base, width: width, height: height, rowStride: width, planeStride: width * height)
  }

  @inlinable @inline(__always)
  public func row(_ plane: Int, _ y: Int) -> UnsafeMutablePointer<Float> {
    base + (plane &* planeStride &+ y &* rowStride)
  }
}

// MARK: - Shared vector math
// (The per-pixel helpers are @_transparent: @inline(__always) left them as calls, with their
// SIMD16 arguments passed through memory, in the encoders and decoders.)

/// The coefficients splatted once per call.
struct DecodeVectors {
  let ys, rv, gu, gv, bu, r0, g0, b0: SIMD16<Float>

  @inline(__always)
  init(_ c: YCbCrCoefficients) {
    ys = SIMD16(repeating: c.ys)
    rv = SIMD16(repeating: c.rv)
    gu = SIMD16(repeating: c.gu)
    gv = SIMD16(repeating: c.gv)
    bu = SIMD16(repeating: c.bu)
    r0 = SIMD16(repeating: c.r0)
    g0 = SIMD16(repeating: c.g0)
    b0 = SIMD16(repeating: c.b0)
  }

  /// Decodes 16 pixels and stores `lanes` of them to each plane row, clamped to [0, 1].
  @_transparent
  func decode(
    _ y: SIMD16<Float>, _ u: SIMD16<Float>, _ v: SIMD16<Float>,
    _ r: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
    lanes: Int
  ) {
    let rr = r0.addingProduct(v, rv).addingProduct(y, ys)
    let gg = g0.addingProduct(u, gu).addingProduct(v, gv).addingProduct(y, ys)
    let bb = b0.addingProduct(u, bu).addingProduct(y, ys)
    if lanes == 16 {
      storeVector(clamp01(rr), r)
      storeVector(clamp01(gg), g)
      storeVector(clamp01(bb), b)
    } else {
      let cr = clamp01(rr)
      let cg = clamp01(gg)
      let cb = clamp01(bb)
      for i in 0..<lanes {
        r[i] = cr[i]
        g[i] = cg[i]
        b[i] = cb[i]
      }
    }
  }
}

struct EncodeVectors {
  let yo, yr, yg, yb, ur, ug, ub, vr, vg, vb, c128: SIMD16<Float>

  @inline(__always)
  init(_ c: YCbCrCoefficients) {
    yo = SIMD16(repeating: c.yo)
    yr = SIMD16(repeating: c.yr)
    yg = SIMD16(repeating: c.yg)
    yb = SIMD16(repeating: c.yb)
    ur = SIMD16(repeating: c.ur)
    ug = SIMD16(repeating: c.ug)
    ub = SIMD16(repeating: c.ub)
    vr = SIMD16(repeating: c.vr)
    vg = SIMD16(repeating: c.vg)
    vb = SIMD16(repeating: c.vb)
    c128 = SIMD16(repeating: 128)
  }

  @_transparent
  func lumaValue(_ r: SIMD16<Float>, _ g: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    yo.addingProduct(r, yr).addingProduct(g, yg).addingProduct(b, yb)
  }

  @_transparent
  func luma(_ r: SIMD16<Float>, _ g: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<UInt8> {
    toBytes(yo.addingProduct(r, yr).addingProduct(g, yg).addingProduct(b, yb))
  }

  @_transparent
  func cb(_ r: SIMD16<Float>, _ g: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<UInt8> {
    toBytes(cbValue(r, g, b))
  }

  @_transparent
  func cr(_ r: SIMD16<Float>, _ g: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<UInt8> {
    toBytes(crValue(r, g, b))
  }

  /// Unrounded Cb per pixel (the mean of these over a block equals the Cb of the mean colour).
  @_transparent
  func cbValue(_ r: SIMD16<Float>, _ g: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    c128.addingProduct(r, ur).addingProduct(g, ug).addingProduct(b, ub)
  }

  @_transparent
  func crValue(_ r: SIMD16<Float>, _ g: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    c128.addingProduct(r, vr).addingProduct(g, vg).addingProduct(b, vb)
  }
}

@inline(__always)
func clamp01(_ v: SIMD16<Float>) -> SIMD16<Float> {
  let one = SIMD16<Float>(repeating: 1)
  let lo = v.replacing(with: 0, where: v .< SIMD16<Float>())
  return lo.replacing(with: one, where: lo .> one)
}

/// Clamps to [0, 255] and rounds half-to-even to bytes. NaN becomes 0.
/// Clamps to [0, 255] and rounds half-to-even, as 32-bit integers. NaN becomes 0.
@_transparent
func toCodes(_ v: SIMD16<Float>) -> SIMD16<Int32> {
  let top = SIMD16<Float>(repeating: 255)
  let lo = v.replacing(with: 0, where: .!(v .>= SIMD16<Float>()))
  let c = lo.replacing(with: top, where: lo .> top)
  return roundToInt32(c)
}

@_transparent
func toBytes(_ v: SIMD16<Float>) -> SIMD16<UInt8> {
  let i = toCodes(v)
  var out = SIMD16<UInt8>()
  for k in 0..<16 { out[k] = UInt8(truncatingIfNeeded: i[k]) }
  return out
}

@inline(__always)
func bytesToFloat(_ v: SIMD16<UInt8>) -> SIMD16<Float> {
  var r = SIMD16<Float>()
  for k in 0..<16 { r[k] = Float(Int32(v[k])) }
  return r
}

@inline(__always)
func loadBytes16(_ p: UnsafePointer<UInt8>) -> SIMD16<UInt8> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt8>.self)
}

@inline(__always)
func storeBytes16(_ v: SIMD16<UInt8>, _ p: UnsafeMutablePointer<UInt8>, lanes: Int) {
  if lanes == 16 {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<UInt8>.self)
  } else {
    for k in 0..<lanes { p[k] = v[k] }
  }
}

/// Loads `lanes` floats and repeats the last one into the remaining lanes (so that pair and
/// block means at an odd edge average only the pixels present).
@inline(__always)
func loadFloatsReplicating(_ p: UnsafePointer<Float>, lanes: Int) -> SIMD16<Float> {
  if lanes == 16 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
  var v = SIMD16<Float>()
  for k in 0..<16 { v[k] = p[k < lanes ? k : lanes &- 1] }
  return v
}

/// Means of neighbouring lane pairs: lane k of the result (k < 8) is (v[2k] + v[2k+1]) / 2; the
/// upper 8 lanes repeat the lower ones. (Spelled out lane by lane: a lane loop with this index
/// pattern compiles to masked byte broadcasts, not to one shuffle.)
@inline(__always)
func pairMeans(_ v: SIMD16<Float>) -> SIMD16<Float> {
  let even = SIMD16<Float>(
    v[0], v[2], v[4], v[6], v[8], v[10], v[12], v[14], v[0], v[2], v[4], v[6], v[8], v[10], v[12], v[14])
  let odd = SIMD16<Float>(
    v[1], v[3], v[5], v[7], v[9], v[11], v[13], v[15], v[1], v[3], v[5], v[7], v[9], v[11], v[13], v[15])
  return (even + odd) * 0.5
}

/// Each of 8 lanes twice: (v0, v0, v1, v1, ...), one permute.
@inline(__always)
func duplicateLanes(_ v: SIMD8<UInt32>) -> SIMD16<UInt32> {
  SIMD16(v[0], v[0], v[1], v[1], v[2], v[2], v[3], v[3], v[4], v[4], v[5], v[5], v[6], v[6], v[7], v[7])
}

@inline(__always)
func duplicateLanes(_ v: SIMD8<UInt16>) -> SIMD16<UInt16> {
  SIMD16(v[0], v[0], v[1], v[1], v[2], v[2], v[3], v[3], v[4], v[4], v[5], v[5], v[6], v[6], v[7], v[7])
}

@inline(__always)
func duplicateLanes(_ v: SIMD8<UInt8>) -> SIMD16<UInt8> {
  SIMD16(v[0], v[0], v[1], v[1], v[2], v[2], v[3], v[3], v[4], v[4], v[5], v[5], v[6], v[6], v[7], v[7])
}

/// Small non-negative integers (< 2^24) to float.
@inline(__always)
func wordsToFloat(_ v: SIMD16<UInt32>) -> SIMD16<Float> {
  toFloat(unsafeBitCast(v, to: SIMD16<Int32>.self))
}

@inline(__always)
func halfWordsToFloat(_ v: SIMD16<UInt16>) -> SIMD16<Float> {
  var r = SIMD16<Float>()
  for k in 0..<16 { r[k] = Float(Int32(v[k])) }
  return r
}
