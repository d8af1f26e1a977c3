import ZSMKernels

/// One allocation holding the packed weights of many layers, filled once at load time.
///
/// In fp16 (`halfWeights: true`) the packed weights are kept as `Float16` (half the bytes) and
/// every layer's `PackedConvWeights.weights` points at one shared fp32 buffer, the size of the
/// largest layer, that `widen(_:pool:)` fills before the layer runs. Biases stay fp32.
public final class WeightStorage: @unchecked Sendable {
  public let capacity: Int
  public private(set) var used = 0
  public let halfWeights: Bool
  /// fp32: every layer's weights and bias. fp16: the biases only.
  private let floats: UnsafeMutablePointer<Float>
  private let halves: UnsafeMutablePointer<Float16>?
  /// fp16 mode: where a layer's weights are widened before it runs.
  private let widened: UnsafeMutablePointer<Float>?
  private let widenedCount: Int

  /// - Parameters:
  ///   - floatCount: total packed floats (sum of every layer's weights and bias, each rounded up
  ///     to 16 floats for alignment).
  ///   - halfWeights: keep the weights as fp16 (see the type's comment).
  ///   - largestLayer: packed weight floats of the largest layer (fp16 mode's widening buffer).
  ///   - biasFloats: fp16 mode: total of `biasFloatCount(for:)` over the layers.
  ///   - winograd: the largest Winograd layer's `packedWeightCount` and `paddedOutputChannels`
  ///     (the shared buffer's size; nil: no Winograd layers).
  public init(
    floatCount: Int, halfWeights: Bool = false, largestLayer: Int = 0, biasFloats: Int = 0,
    winograd: (floats: Int, outputChannels: Int)? = nil
  ) {
    winogradBuffer = winograd.map { WinogradBuffer(floats: $0.floats, outputChannels: $0.outputChannels) }
    capacity = floatCount
    self.halfWeights = halfWeights
    let fp32Count = max(floatCount, 16)
    if halfWeights {
      // Weights as halves at the fp32 layout's offsets; biases in their own fp32 block.
      halves = .allocate(capacity: fp32Count)
      halves!.initialize(repeating: 0, count: fp32Count)
      widenedCount = max(largestLayer, 16)
      widened = .allocate(capacity: widenedCount)
      widened!.initialize(repeating: 0, count: widenedCount)
      biasCapacity = max(biasFloats, 16)
      floats = .allocate(capacity: biasCapacity)
      floats.initialize(repeating: 0, count: biasCapacity)
    } else {
      halves = nil
      widened = nil
      widenedCount = 0
      biasCapacity = 0
      floats = .allocate(capacity: fp32Count)
      floats.initialize(repeating: 0, count: fp32Count)
    }
  }

  /// fp16 mode: floats of the bias block, and how many are used.
  private let biasCapacity: Int
  private var biasUsed = 0

  deinit {
    floats.deallocate()
    halves?.deallocate()
    widened?.deallocate()
  }

  /// Bytes held (packed weights, biases and, in fp16, the widening buffer), Winograd weights
  /// made through `winograd(_:weights:bias:outputOrder:)` included.
  public var byteCount: Int {
    (halfWeights ? capacity * 2 + biasCapacity * 4 + widenedCount * 4 : capacity * 4) + winogradBytes
  }

  /// Bytes of the Winograd layers' shared buffer.
  public var winogradBytes: Int { winogradBuffer?.byteCount ?? 0 }

  /// The Winograd layers' shared buffer (nil: no room was asked for).
  public let winogradBuffer: WinogradBuffer?

  /// A layer's Winograd F(4,3) side, its weights made in the shared buffer before each run.
  /// `bias` is the layer's packed bias (`pack`'s result).
  public func winograd(_ layout: WinogradLayout, bias: UnsafePointer<Float>) -> WinogradConvWeights {
    guard let winogradBuffer else { preconditionFailure("WeightStorage: no Winograd buffer was sized") }
    return WinogradConvWeights(layout: layout, buffer: winogradBuffer, bias: bias)
  }

  /// Floats of a layout's bias in an fp16 storage's bias block.
  public static func biasFloatCount(for layout: ConvWeightLayout) -> Int { round16(layout.packedBiasCount) }

  /// Floats a layout takes in a storage (weights and bias, each 64-byte aligned).
  public static func floatCount(for layout: ConvWeightLayout) -> Int {
    round16(layout.packedWeightCount) + round16(layout.packedBiasCount)
  }

  static func round16(_ n: Int) -> Int { (n + 15) / 16 * 16 }

  /// Packs PyTorch `[out][in][k][k]` weights and `[out]` bias into the storage. In fp16 the
  /// result's `weights` is the shared widening buffer; use `halfWeights(of:)` and `widen`.
  public func pack(
    _ layout: ConvWeightLayout, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    outputOrder: (Int) -> Int = { $0 }
  ) -> PackedConvWeights {
    packLayer(layout, weights: weights, bias: bias, outputOrder: outputOrder).weights
  }

  /// `pack`, also returning (in fp16) the reference to widen before the layer runs.
  public func packLayer(
    _ layout: ConvWeightLayout, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    outputOrder: (Int) -> Int = { $0 }
  ) -> (weights: PackedConvWeights, half: HalfWeights?) {
    let need = Self.floatCount(for: layout)
    precondition(used + need <= capacity, "WeightStorage too small: need \(used + need), have \(capacity)")
    let offset = used
    used += need
    guard let halves, let widened else {
      let w = floats + offset
      let b = w + Self.round16(layout.packedWeightCount)
      layout.pack(weights: weights, bias: bias, into: w, bias: b, outputOrder: outputOrder)
      return (PackedConvWeights(layout: layout, weights: w, bias: b), nil)
    }
    precondition(layout.packedWeightCount <= widenedCount, "WeightStorage: widening buffer too small")
    precondition(biasUsed + Self.biasFloatCount(for: layout) <= biasCapacity, "WeightStorage: bias block too small")
    let b = floats + biasUsed
    biasUsed += Self.biasFloatCount(for: layout)
    let temporary = UnsafeMutablePointer<Float>.allocate(capacity: max(layout.packedWeightCount, 1))
    defer { temporary.deallocate() }
    layout.pack(weights: weights, bias: bias, into: temporary, bias: b, outputOrder: outputOrder)
    narrow(temporary, halves + offset, layout.packedWeightCount)
    return (
      PackedConvWeights(layout: layout, weights: widened, bias: b),
      HalfWeights(source: halves + offset, destination: widened, count: layout.packedWeightCount)
    )
  }
}

/// A layer's fp16 packed weights and the shared fp32 buffer its kernels read (fp16 mode).
public struct HalfWeights: @unchecked Sendable {
  let source: UnsafeMutablePointer<Float16>
  let destination: UnsafeMutablePointer<Float>
  let count: Int

  /// Widens the weights into the shared buffer, split over the pool's threads. Call right
  /// before the layer runs (the buffer holds one layer at a time).
  public func widen(pool: WorkerPool) {
    pool.forEachRowRange(
      rows: (count + 4095) / 4096, WidenChunks(source: source, destination: destination, count: count))
  }
}

/// Widens 4096-value chunks `rows` of a layer's fp16 weights.
struct WidenChunks: RowJob {
  let source: UnsafeMutablePointer<Float16>
  let destination: UnsafeMutablePointer<Float>
  let count: Int

  func run(rows: Range<Int>, worker: Int) {
    let start = rows.lowerBound * 4096
    let end = min(count, rows.upperBound * 4096)
    ZSMKernels.widen(UnsafePointer(source + start), destination + start, end - start)
  }
}
