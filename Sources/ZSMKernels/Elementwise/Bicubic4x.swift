/// ×4 bicubic upscaling as PyTorch's `interpolate(scale_factor: 4, mode: "bicubic",
/// align_corners: false)` computes it (a = −0.75, half-pixel centres, reads clamped to the edge,
/// result not clamped): the global skip of ZSM-Lite.
///
/// Output index `o` maps to source position `s = (o + 0.5) / 4 − 0.5`; it reads the four source
/// samples `floor(s) − 1 … floor(s) + 2` (clamped) with the cubic-convolution weights of
/// `t = s − floor(s)`. With a scale of exactly 4 there are four phases `o % 4`, with
/// `t = 0.625, 0.875, 0.125, 0.375` and `floor(s) = o/4 − 1, o/4 − 1, o/4, o/4`.
public enum Bicubic4x {
  /// The four weights of phase `phase` (0..<4), in PyTorch's float arithmetic.
  @inlinable
  public static func weights(phase: Int) -> SIMD4<Float> {
    let a: Float = -0.75
    let t: Float = phase == 0 ? 0.625 : phase == 1 ? 0.875 : phase == 2 ? 0.125 : 0.375
    // cubic_convolution1 for |x| <= 1, cubic_convolution2 for 1 < |x| < 2 (PyTorch UpSample.h).
    func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
    func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
    return SIMD4(far(t + 1), near(t), near(1 - t), far(2 - t))
  }

  /// First source index (before clamping) read by output index `o`.
  @inlinable
  public static func firstTap(_ o: Int) -> Int { o >> 2 - (o & 3 < 2 ? 2 : 1) }

  /// Adds the ×4 bicubic upscale of a planar `[channels][height][width]` frame — or of the mean
  /// of two frames when `second` is given (the same as the mean of their upscales: the resize is
  /// linear) — to output row `row` (of `4 · height`) of a planar destination: channel `c` of the
  /// row is at `destination + c · planeStride`, `outputWidth ≤ 4 · width` columns.
  /// `scratch` holds `width` floats (the vertically interpolated source row).
  @inlinable
  public static func addRow(
    _ first: UnsafePointer<Float>, _ second: UnsafePointer<Float>?, channels: Int, height: Int, width: Int,
    row: Int, into destination: UnsafeMutablePointer<Float>, planeStride: Int, outputWidth: Int,
    scratch: UnsafeMutablePointer<Float>
  ) {
    let wy = weights(phase: row & 3) * (second == nil ? 1 : 0.5)
    let y0 = firstTap(row)
    let rows =
      SIMD4(
        clamp(y0, height), clamp(y0 + 1, height), clamp(y0 + 2, height), clamp(y0 + 3, height)) &* width
    let wx = (weights(phase: 0), weights(phase: 1), weights(phase: 2), weights(phase: 3))
    let plane = height * width
    for c in 0..<channels {
      // Vertical pass: the source row at this output row's position.
      verticalRow(first + c * plane, rows: rows, weights: wy, width: width, into: scratch, accumulate: false)
      if let second {
        verticalRow(second + c * plane, rows: rows, weights: wy, width: width, into: scratch, accumulate: true)
      }
      // Horizontal pass: four outputs per source column.
      let out = destination + c * planeStride
      var x = 0
      while x < outputWidth {
        let phase = x & 3
        let w = phase == 0 ? wx.0 : phase == 1 ? wx.1 : phase == 2 ? wx.2 : wx.3
        let x0 = firstTap(x)
        let v: SIMD4<Float>
        if x0 >= 0 && x0 + 3 < width {
          v = SIMD4(scratch[x0], scratch[x0 + 1], scratch[x0 + 2], scratch[x0 + 3])
        } else {
          v = SIMD4(
            scratch[clamp(x0, width)], scratch[clamp(x0 + 1, width)], scratch[clamp(x0 + 2, width)],
            scratch[clamp(x0 + 3, width)])
        }
        let p = v * w
        out[x] += (p[0] + p[1]) + (p[2] + p[3])
        x += 1
      }
    }
  }

  @inlinable
  static func clamp(_ i: Int, _ size: Int) -> Int { min(max(i, 0), size - 1) }

  /// `scratch[x] (+)= Σ_k weights[k] · source[rows[k] + x]` for x in 0..<width, 16 lanes at a time.
  @inlinable
  static func verticalRow(
    _ source: UnsafePointer<Float>, rows: SIMD4<Int>, weights: SIMD4<Float>, width: Int,
    into scratch: UnsafeMutablePointer<Float>, accumulate: Bool
  ) {
    let r0 = source + rows[0]
    let r1 = source + rows[1]
    let r2 = source + rows[2]
    let r3 = source + rows[3]
    let w0 = SIMD16<Float>(repeating: weights[0])
    let w1 = SIMD16<Float>(repeating: weights[1])
    let w2 = SIMD16<Float>(repeating: weights[2])
    let w3 = SIMD16<Float>(repeating: weights[3])
    var x = 0
    while x + 16 <= width {
      var v = load16(r0 + x) * w0
      v = v.addingProduct(load16(r1 + x), w1)
      v = v.addingProduct(load16(r2 + x), w2)
      v = v.addingProduct(load16(r3 + x), w3)
      if accumulate { v += load16(UnsafePointer(scratch + x)) }
      UnsafeMutableRawPointer(scratch + x).storeBytes(of: v, as: SIMD16<Float>.self)
      x += 16
    }
    while x < width {
      let v = r0[x] * weights[0] + r1[x] * weights[1] + r2[x] * weights[2] + r3[x] * weights[3]
      scratch[x] = accumulate ? scratch[x] + v : v
      x += 1
    }
  }

  @inlinable
  static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
  }
}
