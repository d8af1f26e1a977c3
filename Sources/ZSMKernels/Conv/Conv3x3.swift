/// 3x3 convolution, zero padding 1, stride 1 or 2, with bias and a fused epilogue, computing
/// output rows `rows` (a sub-range, so a worker pool can split the rows).
///
/// - `input` must carry a one-pixel zero halo (see `FeatureMap`).
/// - `output` is `ceil(H / stride) x ceil(W / stride)` with `weights.layout.outputChannels` channels.
/// - `residual` is read only for `.residual` (it may alias `output`).
/// Never allocates; shapes are validated by the caller (ZSMRuntime).
public func conv3x3(
  input: FeatureMap, weights: PackedConvWeights, output: FeatureMap, stride: Int, epilogue: Epilogue,
  residual: FeatureMap? = nil, rows: Range<Int>
) {
  let res = residual ?? output
  let inPixel = input.pixelStride
  for oy in rows {
    // Input pixel (stride*oy - 1, -1): the top-left tap of output pixel (oy, 0).
    let a = input.base + ((oy &* stride &- 1) &* input.rowStride &- inPixel)
    runTileRow(
      count: output.width, a: UnsafePointer(a), pStride: stride &* inPixel, kxStride: inPixel,
      kyStride: input.rowStride, nKy: 3, nKx: 3, weights: weights, out: output.base + oy &* output.rowStride,
      outPStride: output.pixelStride, epilogue: epilogue, residual: UnsafePointer(res.base + oy &* res.rowStride),
      residualPStride: res.pixelStride)
  }
}

/// 1x1 convolution (a per-pixel matrix product) with bias and a fused epilogue, for output rows `rows`.
/// Input and output have the same size; no halo is needed.
public func conv1x1(
  input: FeatureMap, weights: PackedConvWeights, output: FeatureMap, epilogue: Epilogue,
  residual: FeatureMap? = nil, rows: Range<Int>
) {
  let res = residual ?? output
  for y in rows {
    runTileRow(
      count: output.width, a: UnsafePointer(input.base + y &* input.rowStride), pStride: input.pixelStride,
      kxStride: 0, kyStride: 0, nKy: 1, nKx: 1, weights: weights, out: output.base + y &* output.rowStride,
      outPStride: output.pixelStride, epilogue: epilogue, residual: UnsafePointer(res.base + y &* res.rowStride),
      residualPStride: res.pixelStride)
  }
}
