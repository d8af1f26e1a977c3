import ZSMKernels

/// Where Winograd layers' transformed weights live while they run: one buffer, the size of the
/// largest such layer, that each layer fills from its packed 3x3 weights right before it runs
/// (`WinogradConvWeights.prepare`), as fp16 networks widen their weights. Kept transformed
/// weights of every layer would take 4x the 3x3 weights (36 values per channel pair instead of
/// 9: 164 MB more for the released network); the transform costs a few percent of a layer at
/// the widths Winograd is used for (`WinogradPolicy.minimumWidth`).
public final class WinogradBuffer: @unchecked Sendable {
  let weights: UnsafeMutablePointer<Float>
  let zeros: UnsafeMutablePointer<Float>
  let capacity: Int
  let zeroCount: Int
  /// The layer whose weights the buffer holds (nil: none, or not known).
  var current: ObjectIdentifier?

  /// - Parameters:
  ///   - floats: the largest `WinogradLayout.packedWeightCount` among the layers.
  ///   - outputChannels: the largest `paddedOutputChannels` among them.
  public init(floats: Int, outputChannels: Int) {
    capacity = max(floats, 16)
    zeroCount = max(outputChannels, 16)
    weights = .allocate(capacity: capacity)
    weights.initialize(repeating: 0, count: capacity)
    zeros = .allocate(capacity: zeroCount)
    zeros.initialize(repeating: 0, count: zeroCount)
  }

  deinit {
    weights.deallocate()
    zeros.deallocate()
  }

  public var byteCount: Int { (capacity + zeroCount) * 4 }

  /// Forgets which layer the buffer holds (the next `prepare` transforms again: benchmarks).
  public func invalidate() { current = nil }
}

/// A stride-1 3x3 layer's Winograd F(4,3) side: its layout, bias and the shared buffer its
/// transformed weights are made in (see `WinogradBuffer`).
public final class WinogradConvWeights: @unchecked Sendable {
  public let layout: WinogradLayout
  public let buffer: WinogradBuffer
  /// The layer's packed bias (`paddedOutputChannels` floats).
  let bias: UnsafePointer<Float>

  public init(layout: WinogradLayout, buffer: WinogradBuffer, bias: UnsafePointer<Float>) {
    precondition(layout.packedWeightCount <= buffer.capacity, "WinogradBuffer too small")
    precondition(layout.paddedOutputChannels <= buffer.zeroCount, "WinogradBuffer: too few zeros")
    self.layout = layout
    self.buffer = buffer
    self.bias = bias
  }

  /// Makes the transformed weights in the buffer from the layer's packed 3x3 weights (widening
  /// fp16 weights first), split over the pool's threads by input channel, unless the buffer
  /// holds them already.
  public func prepare(direct: PackedConvWeights, half: HalfWeights?, pool: WorkerPool) -> WinogradWeights {
    let weights = WinogradWeights(layout: layout, weights: buffer.weights, bias: bias, zeros: buffer.zeros)
    let me = ObjectIdentifier(self)
    if buffer.current != me {
      half?.widen(pool: pool)
      pool.forEachRowRange(
        rows: layout.inputChannels,
        WinogradWeightRows(direct: direct, layout: layout, destination: buffer.weights))
      buffer.current = me
    }
    return weights
  }
}

struct WinogradWeightRows: RowJob {
  let direct: PackedConvWeights
  let layout: WinogradLayout
  let destination: UnsafeMutablePointer<Float>

  func run(rows: Range<Int>, worker: Int) {
    winogradTransformWeights(direct, layout: layout, into: destination, channels: rows)
  }
}

/// When the network runs its stride-1 3x3 convolutions by Winograd F(4,3).
public enum WinogradPolicy {
  /// Whether a layer of this shape gets Winograd weights at load: stride 1, 3x3, input
  /// channels in whole vectors, and enough channels that the products outweigh the transforms.
  public static func eligible(kernelSize: Int, stride: Int, inputChannels: Int, outputChannels: Int) -> Bool {
    RuntimeTuning.winograd && kernelSize == 3 && stride == 1
      && WinogradLayout.supports(inputChannels: inputChannels, outputChannels: outputChannels)
      && inputChannels >= minimumInputChannels && outputChannels >= minimumOutputChannels
  }

  /// The fewest input and output channels for which Winograd is used: below, the transforms
  /// cost more than the multiplies they save. Measured with `zsm bench --threads 1` on the
  /// compact model's shapes at 80x60, Winograd vs direct:
  /// - AVX-512 (2-vCPU Intel Xeon; 64-channel micro-kernel blocks): 16->64 1.17x (1.27x at
  ///   160x120), 16->54 1.20x, 32->64 1.56x, but 32->16 1.07x and 16->16 0.83x (1.04x at
  ///   320x240): the output transform of 16 channels costs as much as their products.
  /// - AVX2 (2-vCPU AMD EPYC, Zen 3; 16-channel blocks): 16->16 1.17x (1.33x at 320x240),
  ///   32->16 1.54x, 16->54 1.25x, 16->64 1.61x: Winograd from 16 output channels.
  /// - aarch64 keeps 32 (16->16 not measured there).
  nonisolated(unsafe) public static var minimumInputChannels = 16
  nonisolated(unsafe) public static var minimumOutputChannels = defaultMinimumOutputChannels

  /// `minimumOutputChannels` of this build (see above).
  public static var defaultMinimumOutputChannels: Int {
    #if arch(x86_64)
      return ConvWeightLayout.widestBlock == 64 ? 32 : 16
    #else
      return 32
    #endif
  }
  /// The narrowest output (pixels) for which Winograd is used: on narrower maps the weight
  /// transform made at each run and the edge tiles cost more than the multiplies saved
  /// (measured with `zsm bench`).
  nonisolated(unsafe) public static var minimumWidth = 32
}

extension Conv2D {
  /// Whether a run with an output `width` pixels wide takes the Winograd path (the layer has
  /// Winograd weights and the map is wide enough for whole tiles to dominate). Depends on the
  /// width only, which a band buffer shares with its full map, so planning and running agree.
  public func prefersWinograd(outputWidth width: Int) -> Bool {
    winograd != nil && width >= WinogradPolicy.minimumWidth
  }

  /// Floats of per-thread scratch the Winograd path needs for an output `outputWidth` wide (0
  /// without Winograd weights).
  public func winogradFloatsPerWorker(outputWidth: Int) -> Int {
    winograd?.layout.scratchCount(width: outputWidth) ?? 0
  }

  /// Computes output rows `rows` (all by default) by Winograd, between maps of either
  /// precision, one band of 4 output rows per task, after making the transformed weights
  /// (`WinogradConvWeights.prepare`). `scratch` holds `scratchPerWorker` (at
  /// least `winogradFloatsPerWorker`) floats for each of the pool's threads.
  public func runWinograd(
    input: AnyFeatureMap, output: AnyFeatureMap, residual: AnyFeatureMap?, pool: WorkerPool, rows: Range<Int>? = nil,
    scratch: UnsafeMutablePointer<Float>, scratchPerWorker: Int
  ) {
    guard let winograd else { preconditionFailure("conv \(name): no Winograd weights") }
    let transformed = winograd.prepare(direct: weights, half: halfWeights, pool: pool)
    let range = rows ?? 0..<output.height
    let bands = winogradTileRows(range)
    pool.run(
      tasks: bands.count,
      WinogradBands(
        weights: transformed, epilogue: epilogue, input: input, output: output, residual: residual,
        rows: range, firstBand: bands.lowerBound, scratch: scratch, scratchPerWorker: scratchPerWorker))
  }
}

struct WinogradBands: ParallelJob {
  let weights: WinogradWeights
  let epilogue: Epilogue
  let input: AnyFeatureMap
  let output: AnyFeatureMap
  let residual: AnyFeatureMap?
  let rows: Range<Int>
  let firstBand: Int
  let scratch: UnsafeMutablePointer<Float>
  let scratchPerWorker: Int

  func run(task: Int, worker: Int) {
    let top = (firstBand + task) * 4
    let band = max(rows.lowerBound, top)..<min(rows.upperBound, top + 4)
    conv3x3Winograd(
      input: input, weights: weights, output: output, epilogue: epilogue, residual: residual, rows: band,
      scratch: scratch + worker * scratchPerWorker)
  }
}
