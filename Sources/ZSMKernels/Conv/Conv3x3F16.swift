/// A channels-last feature map of `Float16` values, laid out exactly as `FeatureMap`.
public struct FeatureMapF16 {
  public var base: UnsafeMutablePointer<Float16>
  public var height: Int
  public var width: Int
  public var channels: Int
  public var pixelStride: Int
  public var rowStride: Int

  @inlinable
  public init(
    base: UnsafeMutablePointer<Float16>, height: Int, width: Int, channels: Int, pixelStride: Int, rowStride: Int
  ) {
    self.base = base
    self.height = height
    self.width = width
    self.channels = channels
    self.pixelStride = pixelStride
    self.rowStride = rowStride
  }

  @inlinable @inline(__always)
  public func pixel(_ y: Int, _ x: Int) -> UnsafeMutablePointer<Float16> {
    base + (y &* rowStride &+ x &* pixelStride)
  }
}

/// Packed weights in `Float16` (the `ConvWeightLayout` order); the bias stays fp32.
public struct PackedConvWeightsF16 {
  public let layout: ConvWeightLayout
  public let weights: UnsafePointer<Float16>
  public let bias: UnsafePointer<Float>

  public init(layout: ConvWeightLayout, weights: UnsafePointer<Float16>, bias: UnsafePointer<Float>) {
    self.layout = layout
    self.weights = weights
    self.bias = bias
  }
}

/// Converts `count` halves to floats (16 at a time: one vcvtph2ps on x86 with F16C, fcvtl on
/// NEON; the generic `SIMD16<Float>(SIMD16<Float16>)` initialiser is a library call).
@inline(__always)
func widen(_ source: UnsafePointer<Float16>, _ destination: UnsafeMutablePointer<Float>, _ count: Int) {
  var i = 0
  while i &+ 16 <= count {
    let h = UnsafeRawPointer(source + i).loadUnaligned(as: SIMD16<Float16>.self)
    var f = SIMD16<Float>()
    for k in 0..<16 { f[k] = Float(h[k]) }
    storeVector(f, destination + i)
    i &+= 16
  }
  while i < count {
    destination[i] = Float(source[i])
    i &+= 1
  }
}

/// Converts `count` floats to halves (round to nearest even).
@inline(__always)
func narrow(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float16>, _ count: Int) {
  var i = 0
  while i &+ 16 <= count {
    let f = loadVector(source + i)
    var h = SIMD16<Float16>()
    for k in 0..<16 { h[k] = Float16(f[k]) }
    UnsafeMutableRawPointer(destination + i).storeBytes(of: h, as: SIMD16<Float16>.self)
    i &+= 16
  }
  while i < count {
    destination[i] = Float16(source[i])
    i &+= 1
  }
}

/// Floats of per-thread scratch `conv3x3F16` needs.
public func conv3x3F16ScratchCount(
  layout: ConvWeightLayout, inputWidth: Int, outputWidth: Int
) -> Int {
  layout.packedWeightCount + 3 * (inputWidth + 2) * layout.inputChannels
    + 2 * outputWidth * layout.paddedOutputChannels
}

/// 3x3 convolution with Float16 storage and fp32 arithmetic ("fp16 storage"): for every
/// output row the three input rows it reads are widened into a small fp32 buffer, the fp32
/// micro-kernels run on it, and the row is narrowed on the way out. Weights are widened once
/// per call into the scratch. Same shapes, strides and epilogues as `conv3x3`; `input` must have
/// its one-pixel zero halo. `scratch` holds `conv3x3F16ScratchCount(...)` floats.
public func conv3x3F16(
  input: FeatureMapF16, weights: PackedConvWeightsF16, output: FeatureMapF16, stride: Int, epilogue: Epilogue,
  residual: FeatureMapF16? = nil, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>
) {
  let layout = weights.layout
  let cin = layout.inputChannels
  let cout = layout.outputChannels
  let wide = layout.paddedOutputChannels
  let weights32 = scratch
  widen(weights.weights, weights32, layout.packedWeightCount)
  let packed = PackedConvWeights(layout: layout, weights: weights32, bias: weights.bias)
  let stagedRowStride = (input.width + 2) * cin
  let staged = weights32 + layout.packedWeightCount
  let outRow = staged + 3 * stagedRowStride
  let residualRow = outRow + output.width * wide
  for oy in rows {
    // Input rows stride*oy - 1 ... +1, halo columns included, as dense fp32 rows.
    for r in 0..<3 {
      let source = input.pixel(oy &* stride &- 1 &+ r, -1)
      let destination = staged + r &* stagedRowStride
      if input.pixelStride == cin {
        widen(source, destination, stagedRowStride)
      } else {
        for x in 0..<(input.width + 2) { widen(source + x &* input.pixelStride, destination + x &* cin, cin) }
      }
    }
    if epilogue == .residual, let residual {
      for x in 0..<output.width { widen(residual.pixel(oy, x), residualRow + x &* wide, cout) }
    }
    runTileRow(
      count: output.width, a: UnsafePointer(staged), pStride: stride &* cin, kxStride: cin, kyStride: stagedRowStride,
      nKy: 3, nKx: 3, weights: packed, out: outRow, outPStride: wide, epilogue: epilogue,
      residual: UnsafePointer(residualRow), residualPStride: wide)
    for x in 0..<output.width { narrow(outRow + x &* wide, output.pixel(oy, x), cout) }
  }
}
