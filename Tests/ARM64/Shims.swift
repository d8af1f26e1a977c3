// C entry points for the ARM64 self-test (Tests/ARM64/run.sh). This file is compiled only
// together with Sources/ZSMKernels/**/*.swift as one Embedded Swift module for
// aarch64-none-none-elf; it is not part of any SwiftPM target. A feature map is passed as
// (base, height, width, channels, pixelStride, rowStride); epilogues are 0 none, 1 relu,
// 2 leakyRelu, 3 residual (the residual is the output map itself, updated in place).

@inline(__always)
func shimMap(
  _ base: UnsafeMutablePointer<Float>, _ height: Int, _ width: Int, _ channels: Int, _ pixelStride: Int,
  _ rowStride: Int
) -> FeatureMap {
  FeatureMap(
    base: base, height: height, width: width, channels: channels, pixelStride: pixelStride, rowStride: rowStride)
}

@inline(__always)
func shimEpilogue(_ code: Int) -> Epilogue {
  switch code {
  case 1: return .relu
  case 2: return .leakyRelu
  case 3: return .residual
  default: return .none
  }
}

/// Floats of packed weights for `cout x cin x taps` (the bias needs `zsm_packed_bias_count`).
@_cdecl("zsm_packed_weight_count")
public func zsmPackedWeightCount(_ cin: Int, _ cout: Int, _ taps: Int) -> Int {
  ConvWeightLayout(inputChannels: cin, outputChannels: cout, taps: taps).packedWeightCount
}

@_cdecl("zsm_packed_bias_count")
public func zsmPackedBiasCount(_ cin: Int, _ cout: Int, _ taps: Int) -> Int {
  ConvWeightLayout(inputChannels: cin, outputChannels: cout, taps: taps).packedBiasCount
}

@_cdecl("zsm_deform_scratch_count")
public func zsmDeformScratchCount(_ cin: Int, _ groups: Int, _ tilePixels: Int) -> Int {
  DeformableConv.scratchCount(inputChannels: cin, groups: groups, tilePixels: tilePixels)
}

/// Packs PyTorch `[out][in][k][k]` weights into `packedWeights` / `packedBias`.
@_cdecl("zsm_pack")
public func zsmPack(
  _ oihw: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, _ cin: Int, _ cout: Int, _ taps: Int,
  _ packedWeights: UnsafeMutablePointer<Float>, _ packedBias: UnsafeMutablePointer<Float>
) {
  ConvWeightLayout(inputChannels: cin, outputChannels: cout, taps: taps).pack(
    weights: oihw, bias: bias, into: packedWeights, bias: packedBias)
}

/// conv3x3 (`kernel` 3, stride 1 or 2) or conv1x1 (`kernel` 1), rows split in two calls at `split`.
@_cdecl("zsm_conv")
public func zsmConv(
  _ inBase: UnsafeMutablePointer<Float>, _ inHeight: Int, _ inWidth: Int, _ inChannels: Int, _ inPixelStride: Int,
  _ inRowStride: Int, _ packedWeights: UnsafePointer<Float>, _ packedBias: UnsafePointer<Float>, _ cout: Int,
  _ kernel: Int, _ stride: Int, _ epilogue: Int, _ outBase: UnsafeMutablePointer<Float>, _ outHeight: Int,
  _ outWidth: Int, _ outPixelStride: Int, _ outRowStride: Int, _ split: Int
) {
  let input = shimMap(inBase, inHeight, inWidth, inChannels, inPixelStride, inRowStride)
  let output = shimMap(outBase, outHeight, outWidth, cout, outPixelStride, outRowStride)
  let layout = ConvWeightLayout(inputChannels: inChannels, outputChannels: cout, taps: kernel * kernel)
  let weights = PackedConvWeights(layout: layout, weights: packedWeights, bias: packedBias)
  let kind = shimEpilogue(epilogue)
  let residual: FeatureMap? = kind == .residual ? output : nil
  for rows in [0..<split, split..<outHeight] {
    if kernel == 3 {
      conv3x3(
        input: input, weights: weights, output: output, stride: stride, epilogue: kind, residual: residual,
        rows: rows)
    } else {
      conv1x1(input: input, weights: weights, output: output, epilogue: kind, residual: residual, rows: rows)
    }
  }
}

/// Modulated deformable 3x3 convolution; output has the input's height and width.
@_cdecl("zsm_deform_conv")
public func zsmDeformConv(
  _ inBase: UnsafeMutablePointer<Float>, _ height: Int, _ width: Int, _ channels: Int, _ inPixelStride: Int,
  _ inRowStride: Int, _ omBase: UnsafeMutablePointer<Float>, _ omPixelStride: Int, _ omRowStride: Int,
  _ groups: Int, _ packedWeights: UnsafePointer<Float>, _ packedBias: UnsafePointer<Float>, _ cout: Int,
  _ epilogue: Int, _ outBase: UnsafeMutablePointer<Float>, _ outPixelStride: Int, _ outRowStride: Int,
  _ scratch: UnsafeMutablePointer<Float>, _ tilePixels: Int, _ split: Int
) {
  let input = shimMap(inBase, height, width, channels, inPixelStride, inRowStride)
  let offsets = shimMap(omBase, height, width, 27 * groups, omPixelStride, omRowStride)
  let output = shimMap(outBase, height, width, cout, outPixelStride, outRowStride)
  let layout = ConvWeightLayout(inputChannels: channels, outputChannels: cout, taps: 9)
  let weights = PackedConvWeights(layout: layout, weights: packedWeights, bias: packedBias)
  for rows in [0..<split, split..<height] {
    deformConv3x3(
      input: input, offsetsAndMask: offsets, groups: groups, weights: weights, output: output,
      epilogue: shimEpilogue(epilogue), rows: rows, scratch: scratch, tilePixels: tilePixels)
  }
}

@_cdecl("zsm_upsample2x")
public func zsmUpsample2x(
  _ inBase: UnsafeMutablePointer<Float>, _ height: Int, _ width: Int, _ channels: Int, _ inPixelStride: Int,
  _ inRowStride: Int, _ outBase: UnsafeMutablePointer<Float>, _ outPixelStride: Int, _ outRowStride: Int,
  _ scale: Float
) {
  let input = shimMap(inBase, height, width, channels, inPixelStride, inRowStride)
  let output = shimMap(outBase, 2 * height, 2 * width, channels, outPixelStride, outRowStride)
  upsample2x(input: input, output: output, scale: scale, rows: 0..<(2 * height))
}

/// Pixel shuffle x2 of a `4 * channels` phase-major input into a `channels` output.
@_cdecl("zsm_pixel_shuffle2x")
public func zsmPixelShuffle2x(
  _ inBase: UnsafeMutablePointer<Float>, _ height: Int, _ width: Int, _ channels: Int, _ inPixelStride: Int,
  _ inRowStride: Int, _ outBase: UnsafeMutablePointer<Float>, _ outPixelStride: Int, _ outRowStride: Int,
  _ leaky: Int
) {
  let input = shimMap(inBase, height, width, 4 * channels, inPixelStride, inRowStride)
  let output = shimMap(outBase, 2 * height, 2 * width, channels, outPixelStride, outRowStride)
  pixelShuffle2x(input: input, output: output, leaky: leaky != 0, rows: 0..<height)
}

/// `which`: 0 sigmoid, 1 tanh, 2 scale by `alpha`.
@_cdecl("zsm_pointwise")
public func zsmPointwise(
  _ which: Int, _ inBase: UnsafeMutablePointer<Float>, _ height: Int, _ width: Int, _ channels: Int,
  _ inPixelStride: Int, _ inRowStride: Int, _ outBase: UnsafeMutablePointer<Float>, _ outPixelStride: Int,
  _ outRowStride: Int, _ alpha: Float
) {
  let input = shimMap(inBase, height, width, channels, inPixelStride, inRowStride)
  let output = shimMap(outBase, height, width, channels, outPixelStride, outRowStride)
  switch which {
  case 0: sigmoid(input, output: output, rows: 0..<height)
  case 1: tanh(input, output: output, rows: 0..<height)
  default: scale(input, by: alpha, output: output, rows: 0..<height)
  }
}

/// `out = alpha * a + beta * b`; all three maps share the same strides.
@_cdecl("zsm_scale_add")
public func zsmScaleAdd(
  _ aBase: UnsafeMutablePointer<Float>, _ alpha: Float, _ bBase: UnsafeMutablePointer<Float>, _ beta: Float,
  _ outBase: UnsafeMutablePointer<Float>, _ height: Int, _ width: Int, _ channels: Int, _ pixelStride: Int,
  _ rowStride: Int
) {
  scaleAdd(
    shimMap(aBase, height, width, channels, pixelStride, rowStride), alpha: alpha,
    shimMap(bBase, height, width, channels, pixelStride, rowStride), beta: beta,
    output: shimMap(outBase, height, width, channels, pixelStride, rowStride), rows: 0..<height)
}

/// ConvLSTM update; `gates` has `4 * channels` channels, the other three maps `channels`, all
/// with pixel stride `pixelStride` except `gates` (`gatesPixelStride`).
@_cdecl("zsm_lstm_update")
public func zsmLstmUpdate(
  _ gatesBase: UnsafeMutablePointer<Float>, _ gatesPixelStride: Int, _ cellIn: UnsafeMutablePointer<Float>,
  _ cellOut: UnsafeMutablePointer<Float>, _ hiddenOut: UnsafeMutablePointer<Float>, _ height: Int, _ width: Int,
  _ channels: Int, _ pixelStride: Int
) {
  lstmUpdate(
    gates: shimMap(gatesBase, height, width, 4 * channels, gatesPixelStride, width * gatesPixelStride),
    cellIn: shimMap(cellIn, height, width, channels, pixelStride, width * pixelStride),
    cellOut: shimMap(cellOut, height, width, channels, pixelStride, width * pixelStride),
    hiddenOut: shimMap(hiddenOut, height, width, channels, pixelStride, width * pixelStride), rows: 0..<height)
}

@_cdecl("zsm_fma_peak")
public func zsmFmaPeak(_ iterations: Int, _ seed: Float) -> Float {
  fmaPeakLoop(iterations: iterations, seed: seed)
}

/// Not a ZSMKernels kernel: an 8-lane Float16 FMA loop, `c[i] += a[i] * b[i]`, that exists so the
/// ARMv8.2 build provably contains fp16 arithmetic (`fmla v.8h`): run.sh then asserts that it
/// dies of SIGILL on a Cortex-A53, which shows qemu enforces the CPU model and that the v8.2
/// flags reached the compiler. The v8.0 build computes the same with scalar conversions.
@_cdecl("zsm_probe_fp16_fma")
public func zsmProbeFP16FMA(
  _ a: UnsafePointer<Float16>, _ b: UnsafePointer<Float16>, _ c: UnsafeMutablePointer<Float16>, _ count: Int
) {
  var i = 0
  while i &+ 8 <= count {
    let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float16>.self)
    let vb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float16>.self)
    let vc = UnsafeRawPointer(c + i).loadUnaligned(as: SIMD8<Float16>.self)
    UnsafeMutableRawPointer(c + i).storeBytes(of: vc.addingProduct(va, vb), as: SIMD8<Float16>.self)
    i &+= 8
  }
  while i < count {
    c[i] = c[i].addingProduct(a[i], b[i])
    i &+= 1
  }
}

/// conv3x3F16Arith (fp16 arithmetic) on Float16 maps; weights in the `zsm_pack` order as Float16,
/// bias fp32 (`zsm_packed_bias_count` floats). Rows split in two calls at `split`.
@_cdecl("zsm_conv_f16_arith")
public func zsmConvF16Arith(
  _ inBase: UnsafeMutablePointer<Float16>, _ inHeight: Int, _ inWidth: Int, _ inChannels: Int, _ inPixelStride: Int,
  _ inRowStride: Int, _ packedWeights: UnsafePointer<Float16>, _ packedBias: UnsafePointer<Float>, _ cout: Int,
  _ stride: Int, _ epilogue: Int, _ outBase: UnsafeMutablePointer<Float16>, _ outHeight: Int, _ outWidth: Int,
  _ outPixelStride: Int, _ outRowStride: Int, _ split: Int
) {
  let input = FeatureMapF16(
    base: inBase, height: inHeight, width: inWidth, channels: inChannels, pixelStride: inPixelStride,
    rowStride: inRowStride)
  let output = FeatureMapF16(
    base: outBase, height: outHeight, width: outWidth, channels: cout, pixelStride: outPixelStride,
    rowStride: outRowStride)
  let layout = ConvWeightLayout(inputChannels: inChannels, outputChannels: cout, taps: 9)
  let weights = PackedConvWeightsF16(layout: layout, weights: packedWeights, bias: packedBias)
  let kind = shimEpilogue(epilogue)
  for rows in [0..<split, split..<outHeight] {
    conv3x3F16Arith(
      input: input, weights: weights, output: output, stride: stride, epilogue: kind,
      residual: kind == .residual ? output : nil, rows: rows)
  }
}

/// Bytes of packed int8 weights (`which` 0) or entries per per-channel array (`which` 1).
@_cdecl("zsm_int8_dot_storage")
public func zsmInt8DotStorage(_ cin: Int, _ cout: Int, _ which: Int) -> Int {
  let s = Int8DotWeights.storage(inputChannels: cin, outputChannels: cout)
  return which == 0 ? s.weightBytes : s.perChannel
}

@_cdecl("zsm_int8_dot_pack")
public func zsmInt8DotPack(
  _ oihw: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, _ cin: Int, _ cout: Int, _ activationScale: Float,
  _ zeroPoint: Int32, _ weights: UnsafeMutablePointer<Int8>, _ correction: UnsafeMutablePointer<Int32>,
  _ outputScale: UnsafeMutablePointer<Float>, _ packedBias: UnsafeMutablePointer<Float>
) {
  _ = Int8DotWeights.pack(
    weights: oihw, bias: bias, inputChannels: cin, outputChannels: cout, activationScale: activationScale,
    activationZeroPoint: zeroPoint, into: weights, correction: correction, outputScale: outputScale,
    bias: packedBias)
}

/// conv3x3Int8Dot: s8 input map (halo holding zeroPoint - 128), fp32 output (holding the residual
/// for epilogue 3); rows split at `split`.
@_cdecl("zsm_conv_int8_dot")
public func zsmConvInt8Dot(
  _ inBase: UnsafeMutablePointer<Int8>, _ inHeight: Int, _ inWidth: Int, _ inChannels: Int, _ inPixelStride: Int,
  _ inRowStride: Int, _ weights: UnsafePointer<Int8>, _ correction: UnsafePointer<Int32>,
  _ outputScale: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, _ cout: Int, _ stride: Int, _ epilogue: Int,
  _ outBase: UnsafeMutablePointer<Float>, _ outHeight: Int, _ outWidth: Int, _ outPixelStride: Int,
  _ outRowStride: Int, _ split: Int
) {
  let input = FeatureMapS8(
    base: inBase, height: inHeight, width: inWidth, channels: inChannels, pixelStride: inPixelStride,
    rowStride: inRowStride)
  let output = shimMap(outBase, outHeight, outWidth, cout, outPixelStride, outRowStride)
  let packed = Int8DotWeights(
    inputChannels: inChannels, outputChannels: cout, weights: weights, correction: correction,
    outputScale: outputScale, bias: bias)
  // Residual (epilogue 3): the output map holds it and is overwritten in place.
  let residual: FeatureMap? = shimEpilogue(epilogue) == .residual ? output : nil
  for rows in [0..<split, split..<outHeight] {
    conv3x3Int8Dot(
      input: input, weights: packed, output: output, stride: stride, epilogue: shimEpilogue(epilogue),
      residual: residual, rows: rows)
  }
}
