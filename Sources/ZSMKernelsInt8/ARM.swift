// The aarch64 backend of the int8 convolution: `conv3x3Int8Dot` (ARMDot.swift, also tested as
// Embedded Swift by Tests/ARM64/run.sh), tiles of 4 pixels x 16 output channels. On builds for
// ARMv8.2 dot products (Package.swift defines ZSM_DOTPROD where the board's `build.march` has
// `+dotprod`) each step is one `sdot v.4s, v.16b, v.4b[i]` (from C: Sources/CZSMNeon); on ARMv8.0
// (rpi4) the widening multiplies `smull`/`smlal` and the pairwise accumulate `sadalp` (also from
// C) compute the same integers. A dotprod build does not start on a CPU without `asimddp`
// (AT_HWCAP, checked by CZSMCPU before main), so `sdot` never meets a CPU that lacks it.
//
// `sdot` multiplies signed bytes, so the u8 codes of the x86 backends are staged as `code - 128`
// (`int8CodeOffset`) and the packing folds `+128 * sum(q)` into the per-channel correction:
// `sum q * (s + 128) - zeroPoint * sum q = sum q * s + (128 - zeroPoint) * sum q`. The integers, the
// calibration tables and the weights' rounding are the x86 backends' exactly, and the epilogue
// does the same fp32 operations in the same order.
//
// The packed weights are `Int8ConvWeights` (shared with x86): its layout with 16-channel blocks of
// s8 and 4 channels per word is `Int8DotWeights`'s `[block][tap][cin / 4][16][4]`, so the kernel
// reads them through an `Int8DotWeights` view without a copy. `Int8DotWeights` itself stays, as
// the descriptor of the kernel, which the Embedded self-test compiles without this file, and
// with its own `pack` for that test.
#if arch(arm64)
  import ZSMKernels

  /// Staged activation codes: `code - 128` as s8 (`sdot` multiplies signed bytes).
  public typealias Int8Activation = Int8
  /// Packed weights: s8, 4 per 32-bit lane.
  typealias Int8Weight = Int8
  /// Staged codes are the u8 codes minus 128.
  let int8CodeOffset: Int32 = 128
  /// Output channels of one kernel block (weights are packed by such blocks).
  let int8BlockChannels = 16
  /// Which kernel runs (`zsm --version`, benchmarks).
  #if ZSM_DOTPROD
    public let int8BackendName = "NEON sdot (ARMv8.2 dotprod)"
  #else
    public let int8BackendName = "NEON smull/sadalp (ARMv8.0, no sdot)"
  #endif

  /// The aarch64 driver: `conv3x3Int8Dot` on the staged map (a `FeatureMapS8`) and a view of the
  /// shared weights.
  @inline(__always)
  func conv3x3Int8ARM(
    input: Int8ActivationMap, weights: Int8ConvWeights, output: FeatureMap, stride: Int, epilogue: Epilogue,
    residual: FeatureMap?, rows: Range<Int>
  ) {
    let view = Int8DotWeights(
      inputChannels: weights.inputChannels, outputChannels: weights.outputChannels, weights: weights.weights,
      correction: weights.correction, outputScale: weights.outputScale, bias: weights.bias)
    conv3x3Int8Dot(
      input: input, weights: view, output: output, stride: stride, epilogue: epilogue, residual: residual, rows: rows)
  }
#endif
