/// Source rows/columns and weights of output index `o` of a x2 bilinear resize with half-pixel
/// centres (PyTorch `interpolate(scale_factor=2, mode="bilinear", align_corners=False)`):
/// `s = max((o + 0.5) / 2 - 0.5, 0)`, `i0 = floor(s)`, `i1 = min(i0 + 1, n - 1)`, `lambda = s - i0`.
@inline(__always)
func upsampleTaps(_ o: Int, _ n: Int) -> (Int, Int, Float, Float) {
  let s = max((Float(o) + 0.5) * 0.5 - 0.5, 0)
  let i0 = min(Int(s), n - 1)
  let i1 = min(i0 + 1, n - 1)
  let lambda = s - Float(i0)
  return (i0, i1, 1 - lambda, lambda)
}

/// `output = scale * U2(input)`: x2 bilinear upsampling with half-pixel centres and edge
/// clamping, times `scale` (the network doubles upsampled offset features), for output rows
/// `rows`. `output` is `2H x 2W` with the same channel count.
public func upsample2x(input: FeatureMap, output: FeatureMap, scale: Float, rows: Range<Int>) {
  upsampleRows(input: input, output: output, scale: scale, rows: rows)
}

/// `upsample2x` between maps of either precision.
public func upsample2x(input: AnyFeatureMap, output: AnyFeatureMap, scale: Float, rows: Range<Int>) {
  switch (input.element, output.element) {
  case (.float32, .float32): upsampleRows(input: input.float32, output: output.float32, scale: scale, rows: rows)
  case (.float16, .float16): upsampleRows(input: input.float16, output: output.float16, scale: scale, rows: rows)
  case (.float32, .float16): upsampleRows(input: input.float32, output: output.float16, scale: scale, rows: rows)
  case (.float16, .float32): upsampleRows(input: input.float16, output: output.float32, scale: scale, rows: rows)
  }
}

// Inlined so the fp32 entry point holds the loop itself (Tests/ARM64/loops.py checks it by name).
@inline(__always)
func upsampleRows<I: MapElement, O: MapElement>(
  input: FeatureMapOf<I>, output: FeatureMapOf<O>, scale: Float, rows: Range<Int>
) {
  let channels = input.channels
  for oy in rows {
    let (ya, yb, wya, wyb) = upsampleTaps(oy, input.height)
    let rowA = input.base + ya &* input.rowStride
    let rowB = input.base + yb &* input.rowStride
    let dstRow = output.base + oy &* output.rowStride
    let a0 = wya * scale
    let b0 = wyb * scale
    for ox in 0..<output.width {
      let (xa, xb, wxa, wxb) = upsampleTaps(ox, input.width)
      // Offsets bound one by one: Swift 6.2.3 (the aarch64 cross build) cannot type-check the
      // five pointer sums inline in the call in reasonable time.
      let offsetA: Int = xa &* input.pixelStride
      let offsetB: Int = xb &* input.pixelStride
      let p00: UnsafeMutablePointer<I> = rowA + offsetA
      let p01: UnsafeMutablePointer<I> = rowA + offsetB
      let p10: UnsafeMutablePointer<I> = rowB + offsetA
      let p11: UnsafeMutablePointer<I> = rowB + offsetB
      let dst: UnsafeMutablePointer<O> = dstRow + ox &* output.pixelStride
      upsamplePixel(p00, p01, p10, p11, dst, channels, weights: (wxa, wxb, a0, b0))
    }
  }
}

/// One output pixel of `upsampleRows`: `(p00 * wx0 + p01 * wx1) * wy0 + (p10 * wx0 + p11 * wx1) * wy1`.
/// Out of line on purpose: inlined into the pixel loop, LLVM vectorised that loop with
/// 64-bit-index gathers, which every pixel of the network's 16-channel maps then ran:
/// upsampling was 5.5% of ZSM-Lite's window (perf samples, 1 thread); the call costs a few
/// nanoseconds per pixel.
@inline(never)
func upsamplePixel<I: MapElement, O: MapElement>(
  _ p00: UnsafePointer<I>, _ p01: UnsafePointer<I>, _ p10: UnsafePointer<I>, _ p11: UnsafePointer<I>,
  _ dst: UnsafeMutablePointer<O>, _ channels: Int, weights w: (wx0: Float, wx1: Float, wy0: Float, wy1: Float)
) {
  var c = 0
  while c &+ 16 <= channels {
    let top = I.load16(p00 + c) * w.wx0 + I.load16(p01 + c) * w.wx1
    let bottom = I.load16(p10 + c) * w.wx0 + I.load16(p11 + c) * w.wx1
    O.store16(top * w.wy0 + bottom * w.wy1, dst + c)
    c &+= 16
  }
  while c < channels {
    let top = I.load1(p00 + c) * w.wx0 + I.load1(p01 + c) * w.wx1
    let bottom = I.load1(p10 + c) * w.wx0 + I.load1(p11 + c) * w.wx1
    O.store1(top * w.wy0 + bottom * w.wy1, dst + c)
    c &+= 1
  }
}
