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
public func widen(_ source: UnsafePointer<Float16>, _ destination: UnsafeMutablePointer<Float>, _ count: Int) {
  widenRow(source, destination, count)
}

/// Converts `count` floats to halves (round to nearest even).
public func narrow(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float16>, _ count: Int) {
  narrowRow(source, destination, count)
}

/// Floats of per-thread scratch `convStaged` needs for a layer with `kernelSize` (1 or 3).
public func stagedConvScratchCount(layout: ConvWeightLayout, kernelSize: Int, inputWidth: Int, outputWidth: Int)
  -> Int
{
  kernelSize * (inputWidth + kernelSize - 1) * layout.inputChannels + 2 * outputWidth * layout.paddedOutputChannels
}

/// Floats of per-thread scratch `conv3x3F16` needs (its fp32 weights, then `convStaged`'s rows).
public func conv3x3F16ScratchCount(layout: ConvWeightLayout, inputWidth: Int, outputWidth: Int) -> Int {
  layout.packedWeightCount
    + stagedConvScratchCount(layout: layout, kernelSize: 3, inputWidth: inputWidth, outputWidth: outputWidth)
}

/// 3x3 convolution on fp16 maps with fp16 weights (see `convStaged`); the weights are widened
/// into the scratch first. `scratch` holds `conv3x3F16ScratchCount(...)` floats.
public func conv3x3F16(
  input: FeatureMapF16, weights: PackedConvWeightsF16, output: FeatureMapF16, stride: Int, epilogue: Epilogue,
  residual: FeatureMapF16? = nil, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>
) {
  let layout = weights.layout
  widenRow(weights.weights, scratch, layout.packedWeightCount)
  let packed = PackedConvWeights(layout: layout, weights: scratch, bias: weights.bias)
  stagedConv(
    input: input, weights: packed, output: output, kernelSize: 3, stride: stride, epilogue: epilogue,
    residual: residual, rows: rows, scratch: scratch + layout.packedWeightCount)
}

/// 3x3 (stride 1 or 2, pad 1) or 1x1 convolution between maps of either precision ("fp16
/// storage"): for every output row the input rows it reads are widened into a small fp32
/// buffer (fp32 inputs are read in place), the fp32 micro-kernels run on it, and the row is
/// narrowed on the way out (fp32 outputs are written in place). `residual` has the output's
/// element type and may alias it. `scratch` holds `stagedConvScratchCount(...)` floats for the
/// calling thread. Same shapes and layout rules as `conv3x3` / `conv1x1`.
public func convStaged(
  input: AnyFeatureMap, weights: PackedConvWeights, output: AnyFeatureMap, kernelSize: Int, stride: Int,
  epilogue: Epilogue, residual: AnyFeatureMap?, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>
) {
  switch (input.element, output.element) {
  case (.float32, .float32):
    stagedConv(
      input: input.float32, weights: weights, output: output.float32, kernelSize: kernelSize, stride: stride,
      epilogue: epilogue, residual: residual?.float32, rows: rows, scratch: scratch)
  case (.float16, .float16):
    stagedConv(
      input: input.float16, weights: weights, output: output.float16, kernelSize: kernelSize, stride: stride,
      epilogue: epilogue, residual: residual?.float16, rows: rows, scratch: scratch)
  case (.float32, .float16):
    stagedConv(
      input: input.float32, weights: weights, output: output.float16, kernelSize: kernelSize, stride: stride,
      epilogue: epilogue, residual: residual?.float16, rows: rows, scratch: scratch)
  case (.float16, .float32):
    stagedConv(
      input: input.float16, weights: weights, output: output.float32, kernelSize: kernelSize, stride: stride,
      epilogue: epilogue, residual: residual?.float32, rows: rows, scratch: scratch)
  }
}

func stagedConv<I: MapElement, O: MapElement>(
  input: FeatureMapOf<I>, weights: PackedConvWeights, output: FeatureMapOf<O>, kernelSize k: Int, stride: Int,
  epilogue: Epilogue, residual: FeatureMapOf<O>?, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>
) {
  let layout = weights.layout
  let cin = layout.inputChannels
  let cout = layout.outputChannels
  let wide = layout.paddedOutputChannels
  let halo = k / 2
  let stagedPixels = input.width &+ 2 &* halo
  let stagedRowStride = stagedPixels &* cin
  let staged = scratch
  let outRow = staged + k &* stagedRowStride
  let residualRow = outRow + output.width &* wide
  let directIn = I.self == Float.self
  let directOut = O.self == Float.self
  let res = residual ?? output
  for oy in rows {
    // Input: the rows this output row reads, from the top-left tap of pixel (oy, 0).
    let a: UnsafePointer<Float>
    let pStride: Int
    let kxStride: Int
    let kyStride: Int
    if directIn {
      let p = input.pixel(oy &* stride &- halo, -halo)
      a = UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
      pStride = stride &* input.pixelStride
      kxStride = input.pixelStride
      kyStride = input.rowStride
    } else {
      for r in 0..<k {
        let source = UnsafePointer(input.pixel(oy &* stride &- halo &+ r, -halo))
        let destination = staged + r &* stagedRowStride
        if input.pixelStride == cin {
          widenRow(source, destination, stagedRowStride)
        } else {
          for x in 0..<stagedPixels { widenRow(source + x &* input.pixelStride, destination + x &* cin, cin) }
        }
      }
      a = UnsafePointer(staged)
      pStride = stride &* cin
      kxStride = cin
      kyStride = stagedRowStride
    }
    // Output (and residual): in place for fp32, else through fp32 rows.
    if directOut {
      let out = UnsafeMutableRawPointer(output.pixel(oy, 0)).assumingMemoryBound(to: Float.self)
      let r = UnsafeRawPointer(res.pixel(oy, 0)).assumingMemoryBound(to: Float.self)
      runTileRow(
        count: output.width, a: a, pStride: pStride, kxStride: k == 3 ? kxStride : 0,
        kyStride: k == 3 ? kyStride : 0, nKy: k, nKx: k, weights: weights, out: out, outPStride: output.pixelStride,
        epilogue: epilogue, residual: r, residualPStride: res.pixelStride)
    } else {
      if epilogue == .residual {
        for x in 0..<output.width { widenRow(UnsafePointer(res.pixel(oy, x)), residualRow + x &* wide, cout) }
      }
      runTileRow(
        count: output.width, a: a, pStride: pStride, kxStride: k == 3 ? kxStride : 0,
        kyStride: k == 3 ? kyStride : 0, nKy: k, nKx: k, weights: weights, out: outRow, outPStride: wide,
        epilogue: epilogue, residual: UnsafePointer(residualRow), residualPStride: wide)
      for x in 0..<output.width { narrowRow(UnsafePointer(outRow + x &* wide), output.pixel(oy, x), cout) }
    }
  }
}
