import ZSMKernels

/// One allocation holding the packed weights of many layers, filled once at load time.
public final class WeightStorage: @unchecked Sendable {
  public let capacity: Int
  public private(set) var used = 0
  private let floats: UnsafeMutablePointer<Float>

  /// - Parameter floatCount: total packed floats (sum of every layer's weights and bias,
  ///   each rounded up to 16 floats for alignment).
  public init(floatCount: Int) {
    capacity = floatCount
    floats = .allocate(capacity: max(floatCount, 16))
    floats.initialize(repeating: 0, count: max(floatCount, 16))
  }

  deinit { floats.deallocate() }

  /// Floats a layout takes in a storage (weights and bias, each 64-byte aligned).
  public static func floatCount(for layout: ConvWeightLayout) -> Int {
    round16(layout.packedWeightCount) + round16(layout.packedBiasCount)
  }

  static func round16(_ n: Int) -> Int { (n + 15) / 16 * 16 }

  /// Packs PyTorch `[out][in][k][k]` weights and `[out]` bias into the storage.
  public func pack(
    _ layout: ConvWeightLayout, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    outputOrder: (Int) -> Int = { $0 }
  ) -> PackedConvWeights {
    let need = Self.floatCount(for: layout)
    precondition(used + need <= capacity, "WeightStorage too small: need \(used + need), have \(capacity)")
    let w = floats + used
    let b = w + Self.round16(layout.packedWeightCount)
    layout.pack(weights: weights, bias: bias, into: w, bias: b, outputOrder: outputOrder)
    used += need
    return PackedConvWeights(layout: layout, weights: w, bias: b)
  }
}
