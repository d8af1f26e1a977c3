import ZSMKernels

/// A stride-1 3x3 layer's Winograd F(4,3) weights (see `WinogradLayout`), transformed once at
/// load from the PyTorch weights, in fp32 whatever the network's storage precision. The layer
/// keeps its direct weights too: each run picks one path by shape (`Conv2D.prefersWinograd`).
public final class WinogradConvWeights: @unchecked Sendable {
  public let weights: WinogradWeights
  private let storage: UnsafeMutablePointer<Float>

  /// Transforms PyTorch `[out][in][3][3]` weights; `bias` is the layer's packed bias
  /// (`paddedOutputChannels` floats, which must outlive this object). `outputOrder` as
  /// `ConvWeightLayout.pack`.
  public init(
    layout: WinogradLayout, weights source: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    outputOrder: (Int) -> Int = { $0 }
  ) {
    let count = layout.packedWeightCount + layout.paddedOutputChannels
    storage = .allocate(capacity: count)
    let zeros = storage + layout.packedWeightCount
    layout.pack(weights: source, into: storage, zeros: zeros, outputOrder: outputOrder)
    weights = WinogradWeights(layout: layout, weights: storage, bias: bias, zeros: zeros)
  }

  deinit { storage.deallocate() }

  /// Bytes held.
  public var byteCount: Int { (weights.layout.packedWeightCount + weights.layout.paddedOutputChannels) * 4 }
}

/// When the network runs its stride-1 3x3 convolutions by Winograd F(4,3).
public enum WinogradPolicy {
  /// Whether a layer of this shape gets Winograd weights at load: stride 1, 3x3, input
  /// channels in whole vectors, and enough channels that the products outweigh the transforms.
  public static func eligible(kernelSize: Int, stride: Int, inputChannels: Int, outputChannels: Int) -> Bool {
    RuntimeTuning.winograd && kernelSize == 3 && stride == 1
      && WinogradLayout.supports(inputChannels: inputChannels, outputChannels: outputChannels)
      && inputChannels >= minimumChannels && outputChannels >= minimumChannels
  }

  /// The fewest input and output channels for which Winograd is used (below, the transforms
  /// cost more than the multiplies they save; measured with `zsm bench`).
  nonisolated(unsafe) public static var minimumChannels = 32
  /// The narrowest output (pixels) for which Winograd is used: a map narrower than two tiles
  /// wastes most of its edge tiles.
  nonisolated(unsafe) public static var minimumWidth = 8
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
    winograd?.weights.layout.scratchCount(width: outputWidth) ?? 0
  }

  /// Computes output rows `rows` (all by default) by Winograd, between maps of either
  /// precision, one band of 4 output rows per task. `scratch` holds `scratchPerWorker` (at
  /// least `winogradFloatsPerWorker`) floats for each of the pool's threads.
  public func runWinograd(
    input: AnyFeatureMap, output: AnyFeatureMap, residual: AnyFeatureMap?, pool: WorkerPool, rows: Range<Int>? = nil,
    scratch: UnsafeMutablePointer<Float>, scratchPerWorker: Int
  ) {
    guard let winograd else { preconditionFailure("conv \(name): no Winograd weights") }
    let range = rows ?? 0..<output.height
    let bands = winogradTileRows(range)
    pool.run(
      tasks: bands.count,
      WinogradBands(
        weights: winograd.weights, epilogue: epilogue, input: input, output: output, residual: residual,
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
