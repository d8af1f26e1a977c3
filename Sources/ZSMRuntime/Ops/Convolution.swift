import ZSMKernels

/// A convolution layer (3x3 with stride 1 or 2, or 1x1) with packed weights and a fused epilogue.
/// `run` validates shapes and layouts, then splits the output rows over the pool.
public struct Conv2D: @unchecked Sendable {
  public let name: String
  public let kernelSize: Int
  public let stride: Int
  public let epilogue: Epilogue
  public let weights: PackedConvWeights
  /// fp16 weights: widen into `weights.weights` before each run (see `WeightStorage`).
  public let halfWeights: HalfWeights?
  /// The layer's index among those that may run in int8 (-1: always fp32/fp16); set by the
  /// network that owns it, which keeps the int8 weights and calibration per index.
  public var int8Slot = -1
  /// The fp16 weights as `conv3x3F16Arith` reads them, when this 3x3 layer may run in fp16
  /// arithmetic (see `allowingFP16Arithmetic`); nil otherwise.
  public private(set) var halfArithmeticWeights: PackedConvWeightsF16?
  /// Winograd F(4,3) weights, for stride-1 3x3 layers that may run by Winograd (see
  /// `WinogradPolicy`, `prefersWinograd`).
  public var winograd: WinogradConvWeights?
  /// The weights `conv3x3NarrowOutput` reads, for 3x3 layers with 3 output channels
  /// (`conv_last`; see `NarrowOutputConv`): it runs there (`runNarrowOutput`) into an fp32 map.
  public var narrowOutput: NarrowOutputWeights?

  public init(
    name: String, kernelSize: Int, stride: Int = 1, epilogue: Epilogue, weights: PackedConvWeights,
    halfWeights: HalfWeights? = nil
  ) {
    self.halfWeights = halfWeights
    precondition(kernelSize == 1 || kernelSize == 3)
    precondition(stride == 1 || (stride == 2 && kernelSize == 3))
    precondition(weights.layout.taps == kernelSize * kernelSize)
    self.name = name
    self.kernelSize = kernelSize
    self.stride = stride
    self.epilogue = epilogue
    self.weights = weights
  }

  /// This layer, allowed to run in fp16 arithmetic (`runFP16Arithmetic`) when its input is an
  /// fp16 map (its output fp16, or fp32 without a residual): a 3x3 layer with fp16 weights gets
  /// `halfArithmeticWeights` (the same fp16 packing `halfWeights` widens, read directly); any
  /// other layer is returned as is.
  public func allowingFP16Arithmetic() -> Conv2D {
    guard kernelSize == 3, let halfWeights else { return self }
    var layer = self
    layer.halfArithmeticWeights = PackedConvWeightsF16(
      layout: weights.layout, weights: UnsafePointer(halfWeights.source), bias: weights.bias)
    return layer
  }

  public var inputChannels: Int { weights.layout.inputChannels }
  public var outputChannels: Int { weights.layout.outputChannels }

  /// Output size for an input of `height x width`.
  public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
    ((height + stride - 1) / stride, (width + stride - 1) / stride)
  }

  public func validate(input: TensorView, output: TensorView, residual: TensorView?) throws(ShapeError) {
    let op = "\(kernelSize)x\(kernelSize) conv \(name)"
    guard input.channels == inputChannels else {
      throw ShapeError("\(op): input has \(input.channels) channels, expected \(inputChannels)")
    }
    guard output.channels == outputChannels else {
      throw ShapeError("\(op): output has \(output.channels) channels, expected \(outputChannels)")
    }
    if kernelSize == 3 && input.descriptor.halo < 1 {
      throw ShapeError("\(op): input needs a 1-pixel zero halo, got halo \(input.descriptor.halo)")
    }
    let expected = outputSize(height: input.height, width: input.width)
    guard output.height == expected.height, output.width == expected.width else {
      throw ShapeError(
        "\(op): output is \(output.width)x\(output.height), expected \(expected.width)x\(expected.height)"
          + " for a \(input.width)x\(input.height) input with stride \(stride)")
    }
    if epilogue == .residual {
      guard let residual else { throw ShapeError("\(op): residual epilogue without a residual tensor") }
      guard residual.channels == outputChannels, residual.height == output.height, residual.width == output.width
      else {
        throw ShapeError(
          "\(op): residual is \(residual.channels)x\(residual.height)x\(residual.width), expected "
            + "\(outputChannels)x\(output.height)x\(output.width)")
      }
    }
  }

  /// Validates, then computes the whole output on `pool`.
  public func run(input: TensorView, output: TensorView, residual: TensorView? = nil, pool: WorkerPool)
    throws(ShapeError)
  {
    try validate(input: input, output: output, residual: residual)
    runUnchecked(input: input.map, output: output.map, residual: residual?.map, pool: pool)
  }

  /// Computes without validation: for plans whose shapes were validated when they were built.
  /// `rows` limits the output rows computed (all by default; the 4x tail runs in row bands).
  public func runUnchecked(
    input: FeatureMap, output: FeatureMap, residual: FeatureMap?, pool: WorkerPool, rows: Range<Int>? = nil
  ) {
    pool.forEachRowRange(
      rows: rows ?? 0..<output.height, ConvRows(conv: self, input: input, output: output, residual: residual))
  }
}

/// A 3-output-channel layer's weights as `conv3x3NarrowOutput` reads them (a few KB, packed
/// once at load, in fp32 whatever the network's weight precision).
public final class NarrowOutputWeights: @unchecked Sendable {
  public let weights: UnsafeMutablePointer<Float>
  /// The same weights in fp16, for `conv3x3NarrowOutputF16Arith` (ARMv8.2 FP16).
  public let halfWeights: UnsafeMutablePointer<Float16>
  public let bias: UnsafeMutablePointer<Float>
  public let inputChannels: Int

  /// From PyTorch `[3][inputChannels][3][3]` weights and `[3]` bias.
  public init(oihw: UnsafePointer<Float>, bias b: UnsafePointer<Float>, inputChannels: Int) {
    self.inputChannels = inputChannels
    let count = NarrowOutputConv.weightCount(inputChannels: inputChannels)
    weights = .allocate(capacity: count)
    NarrowOutputConv.pack(weights: oihw, inputChannels: inputChannels, into: weights)
    halfWeights = .allocate(capacity: count)
    for i in 0..<count { halfWeights[i] = Float16(weights[i]) }
    bias = .allocate(capacity: NarrowOutputConv.outputChannels)
    bias.initialize(from: b, count: NarrowOutputConv.outputChannels)
  }

  deinit {
    weights.deallocate()
    halfWeights.deallocate()
    bias.deallocate()
  }

  public var byteCount: Int { 6 * NarrowOutputConv.weightCount(inputChannels: inputChannels) + 12 }
}

extension Conv2D {
  /// This layer with `narrowOutput` weights when its shape runs in `conv3x3NarrowOutput`
  /// (3x3, stride 1, 3 outputs, input channels a multiple of 16, no residual); else as is.
  public func withNarrowOutput(oihw: UnsafePointer<Float>, bias: UnsafePointer<Float>) -> Conv2D {
    guard
      NarrowOutputConv.eligible(
        kernelSize: kernelSize, stride: stride, inputChannels: inputChannels, outputChannels: outputChannels),
      epilogue != .residual
    else { return self }
    var layer = self
    layer.narrowOutput = NarrowOutputWeights(oihw: oihw, bias: bias, inputChannels: inputChannels)
    return layer
  }

  /// Computes in `conv3x3NarrowOutput` (needs `narrowOutput`) into an fp32 map, from an fp32 or
  /// an fp16 map; with `fp16Arithmetic` (an fp16 input, arm64) in `conv3x3NarrowOutputF16Arith`.
  public func runNarrowOutput(
    input: AnyFeatureMap, output: FeatureMap, pool: WorkerPool, rows: Range<Int>? = nil, fp16Arithmetic: Bool = false
  ) {
    guard let narrowOutput else { preconditionFailure("conv \(name): no narrow-output weights") }
    pool.forEachRowRange(
      rows: rows ?? 0..<output.height,
      NarrowOutputConvRows(
        weights: narrowOutput, input: input, output: output, epilogue: epilogue,
        fp16Arithmetic: fp16Arithmetic && input.element == .float16))
  }
}

struct NarrowOutputConvRows: RowJob {
  let weights: NarrowOutputWeights
  let input: AnyFeatureMap
  let output: FeatureMap
  let epilogue: Epilogue
  let fp16Arithmetic: Bool

  func run(rows: Range<Int>, worker: Int) {
    #if arch(arm64)
      if fp16Arithmetic {
        conv3x3NarrowOutputF16Arith(
          input: input.float16, weights: weights.halfWeights, bias: weights.bias, output: output, epilogue: epilogue,
          rows: rows)
        return
      }
    #endif
    switch input.element {
    case .float32:
      conv3x3NarrowOutput(
        input: input.float32, weights: weights.weights, bias: weights.bias, output: output, epilogue: epilogue,
        rows: rows)
    case .float16:
      conv3x3NarrowOutput(
        input: input.float16, weights: weights.weights, bias: weights.bias, output: output, epilogue: epilogue,
        rows: rows)
    }
  }
}

extension Conv2D {
  /// Floats of per-thread scratch `runStaged` needs for an input `inputWidth` wide.
  public func stagingFloatsPerWorker(inputWidth: Int) -> Int {
    stagedConvScratchCount(
      layout: weights.layout, kernelSize: kernelSize, inputWidth: inputWidth,
      outputWidth: outputSize(height: 1, width: inputWidth).width)
  }

  /// Computes between maps of either precision (see `convStaged`): rows are widened to fp32
  /// per thread. `scratch` holds `stagingFloatsPerWorker` floats for each of the pool's threads.
  public func runStaged(
    input: AnyFeatureMap, output: AnyFeatureMap, residual: AnyFeatureMap?, pool: WorkerPool, rows: Range<Int>? = nil,
    scratch: UnsafeMutablePointer<Float>
  ) {
    pool.forEachRowRange(
      rows: rows ?? 0..<output.height,
      StagedConvRows(
        conv: self, input: input, output: output, residual: residual, scratch: scratch,
        scratchPerWorker: stagingFloatsPerWorker(inputWidth: input.width)))
  }
}

#if arch(arm64)
  extension Conv2D {
    /// Computes between fp16 maps in fp16 arithmetic (`conv3x3F16Arith`: each kernel row's
    /// products summed by fp16 FMAs, the rows added in fp32). Needs `halfArithmeticWeights`;
    /// fast only where `CPUFeatures.fp16Arithmetic` (ARMv8.2 FP16 compiled in and present).
    public func runFP16Arithmetic(
      input: FeatureMapF16, output: FeatureMapF16, residual: FeatureMapF16?, pool: WorkerPool,
      rows: Range<Int>? = nil
    ) {
      guard let weights = halfArithmeticWeights else {
        preconditionFailure("conv \(name): not allowed fp16 arithmetic (no fp16 weights)")
      }
      pool.forEachRowRange(
        rows: rows ?? 0..<output.height,
        F16ArithmeticConvRows(
          weights: weights, input: input, output: output, residual: residual, stride: stride, epilogue: epilogue))
    }
  }

  extension Conv2D {
    /// `runFP16Arithmetic` into an fp32 map (no residual): the fp16 products and fp32 row sums,
    /// the result kept in fp32 (the deformable convolutions' offsets and mask).
    public func runFP16Arithmetic(
      input: FeatureMapF16, output: FeatureMap, pool: WorkerPool, rows: Range<Int>? = nil
    ) {
      guard let weights = halfArithmeticWeights else {
        preconditionFailure("conv \(name): not allowed fp16 arithmetic (no fp16 weights)")
      }
      pool.forEachRowRange(
        rows: rows ?? 0..<output.height,
        F16ArithmeticToFP32Rows(weights: weights, input: input, output: output, stride: stride, epilogue: epilogue))
    }
  }

  struct F16ArithmeticConvRows: RowJob {
    let weights: PackedConvWeightsF16
    let input: FeatureMapF16
    let output: FeatureMapF16
    let residual: FeatureMapF16?
    let stride: Int
    let epilogue: Epilogue

    func run(rows: Range<Int>, worker: Int) {
      conv3x3F16Arith(
        input: input, weights: weights, output: output, stride: stride, epilogue: epilogue, residual: residual,
        rows: rows)
    }
  }

  struct F16ArithmeticToFP32Rows: RowJob {
    let weights: PackedConvWeightsF16
    let input: FeatureMapF16
    let output: FeatureMap
    let stride: Int
    let epilogue: Epilogue

    func run(rows: Range<Int>, worker: Int) {
      conv3x3F16Arith(input: input, weights: weights, output: output, stride: stride, epilogue: epilogue, rows: rows)
    }
  }
#endif

struct StagedConvRows: RowJob {
  let conv: Conv2D
  let input: AnyFeatureMap
  let output: AnyFeatureMap
  let residual: AnyFeatureMap?
  let scratch: UnsafeMutablePointer<Float>
  let scratchPerWorker: Int

  func run(rows: Range<Int>, worker: Int) {
    convStaged(
      input: input, weights: conv.weights, output: output, kernelSize: conv.kernelSize, stride: conv.stride,
      epilogue: conv.epilogue, residual: residual, rows: rows, scratch: scratch + worker * scratchPerWorker)
  }
}

struct ConvRows: RowJob {
  let conv: Conv2D
  let input: FeatureMap
  let output: FeatureMap
  let residual: FeatureMap?

  func run(rows: Range<Int>, worker: Int) {
    if conv.kernelSize == 3 {
      conv3x3(
        input: input, weights: conv.weights, output: output, stride: conv.stride, epilogue: conv.epilogue,
        residual: residual, rows: rows)
    } else {
      conv1x1(
        input: input, weights: conv.weights, output: output, epilogue: conv.epilogue, residual: residual, rows: rows)
    }
  }
}

/// A modulated deformable 3x3 convolution (DCNv2) with packed weights; its offsets and mask
/// come from a separate `Conv2D` with `3 * groups * 9` outputs.
public struct DeformableConv2D: @unchecked Sendable {
  public let name: String
  public let groups: Int
  public let epilogue: Epilogue
  public let weights: PackedConvWeights
  public let tilePixels: Int
  /// fp16 weights: widen into `weights.weights` before each run (see `WeightStorage`).
  public let halfWeights: HalfWeights?
  /// The fp16 weights as `deformConv3x3F16Arith` reads them, when this layer may run in fp16
  /// arithmetic between fp16 maps (`Conv2D.allowingFP16Arithmetic` of the same weights).
  public let halfArithmeticWeights: PackedConvWeightsF16?

  public init(
    name: String, groups: Int, epilogue: Epilogue, weights: PackedConvWeights,
    tilePixels: Int = RuntimeTuning.deformableTilePixels, halfWeights: HalfWeights? = nil,
    halfArithmeticWeights: PackedConvWeightsF16? = nil
  ) {
    self.halfWeights = halfWeights
    self.halfArithmeticWeights = halfArithmeticWeights
    self.name = name
    self.groups = groups
    self.epilogue = epilogue
    self.weights = weights
    self.tilePixels = tilePixels
  }

  /// Floats of scratch each worker thread needs.
  public var scratchFloatsPerWorker: Int {
    DeformableConv.scratchCount(
      inputChannels: weights.layout.inputChannels, groups: groups, tilePixels: tilePixels,
      outputChannels: weights.layout.outputChannels)
  }

  public func validate(input: TensorView, offsetsAndMask: TensorView, output: TensorView) throws(ShapeError) {
    let op = "deformable conv \(name)"
    let cin = weights.layout.inputChannels
    guard input.channels == cin, cin % groups == 0 else {
      throw ShapeError("\(op): input has \(input.channels) channels, expected \(cin) (divisible by \(groups) groups)")
    }
    guard offsetsAndMask.channels == 27 * groups else {
      throw ShapeError("\(op): offsets/mask have \(offsetsAndMask.channels) channels, expected \(27 * groups)")
    }
    guard output.channels == weights.layout.outputChannels else {
      throw ShapeError("\(op): output has \(output.channels) channels, expected \(weights.layout.outputChannels)")
    }
    for (what, t) in [("offsets/mask", offsetsAndMask), ("output", output)]
    where t.height != input.height || t.width != input.width {
      throw ShapeError("\(op): \(what) is \(t.width)x\(t.height), expected \(input.width)x\(input.height)")
    }
  }

  /// Validates, then computes on `pool`. `scratch` holds `scratchFloatsPerWorker` floats for
  /// each of the pool's threads, one after the other.
  public func run(
    input: TensorView, offsetsAndMask: TensorView, output: TensorView, pool: WorkerPool,
    scratch: UnsafeMutablePointer<Float>
  ) throws(ShapeError) {
    try validate(input: input, offsetsAndMask: offsetsAndMask, output: output)
    runUnchecked(
      input: input.anyMap, offsetsAndMask: offsetsAndMask.map, output: output.anyMap, pool: pool, scratch: scratch)
  }

  public func runUnchecked(
    input: FeatureMap, offsetsAndMask: FeatureMap, output: FeatureMap, pool: WorkerPool,
    scratch: UnsafeMutablePointer<Float>
  ) {
    runUnchecked(
      input: AnyFeatureMap(input), offsetsAndMask: offsetsAndMask, output: AnyFeatureMap(output), pool: pool,
      scratch: scratch)
  }

  /// Input and output in either precision; the offsets are fp32.
  public func runUnchecked(
    input: AnyFeatureMap, offsetsAndMask: FeatureMap, output: AnyFeatureMap, pool: WorkerPool,
    scratch: UnsafeMutablePointer<Float>
  ) {
    pool.forEachRowRange(
      rows: output.height,
      DeformableRows(dcn: self, input: input, offsetsAndMask: offsetsAndMask, output: output, scratch: scratch))
  }
}

#if arch(arm64)
  extension DeformableConv2D {
    /// Computes between fp16 maps in fp16 arithmetic (`deformConv3x3F16Arith`). Needs
    /// `halfArithmeticWeights`; fast only where `CPUFeatures.fp16Arithmetic`.
    public func runFP16Arithmetic(
      input: FeatureMapF16, offsetsAndMask: FeatureMap, output: FeatureMapF16, pool: WorkerPool,
      scratch: UnsafeMutablePointer<Float>
    ) {
      guard let weights = halfArithmeticWeights else {
        preconditionFailure("deformable conv \(name): not allowed fp16 arithmetic (no fp16 weights)")
      }
      let perWorker = scratchFloatsPerWorker
      pool.forEachRowRange(
        rows: output.height,
        F16ArithmeticDeformableRows(
          weights: weights, groups: groups, epilogue: epilogue, tilePixels: tilePixels, input: input,
          offsetsAndMask: offsetsAndMask, output: output, scratch: scratch, scratchPerWorker: perWorker))
    }
  }

  struct F16ArithmeticDeformableRows: RowJob {
    let weights: PackedConvWeightsF16
    let groups: Int
    let epilogue: Epilogue
    let tilePixels: Int
    let input: FeatureMapF16
    let offsetsAndMask: FeatureMap
    let output: FeatureMapF16
    let scratch: UnsafeMutablePointer<Float>
    let scratchPerWorker: Int

    func run(rows: Range<Int>, worker: Int) {
      deformConv3x3F16Arith(
        input: input, offsetsAndMask: offsetsAndMask, groups: groups, weights: weights, output: output,
        epilogue: epilogue, rows: rows, scratch: scratch + worker * scratchPerWorker, tilePixels: tilePixels)
    }
  }
#endif

struct DeformableRows: RowJob {
  let dcn: DeformableConv2D
  let input: AnyFeatureMap
  let offsetsAndMask: FeatureMap
  let output: AnyFeatureMap
  let scratch: UnsafeMutablePointer<Float>

  func run(rows: Range<Int>, worker: Int) {
    deformConv3x3(
      input: input, offsetsAndMask: offsetsAndMask, groups: dcn.groups, weights: dcn.weights, output: output,
      epilogue: dcn.epilogue, rows: rows, scratch: scratch + worker * dcn.scratchFloatsPerWorker,
      tilePixels: dcn.tilePixels)
  }
}
