/// What a convolution does to each output value after adding the bias.
public enum Epilogue: Sendable, Equatable {
  /// Store `conv + bias`.
  case none
  /// `max(0, conv + bias)`.
  case relu
  /// LeakyReLU with slope 0.1.
  case leakyRelu
  /// `residual + conv + bias`, reading the residual map at the same pixel and channel. The
  /// residual may be the output map itself (in-place residual blocks are safe: each value
  /// is read just before it is overwritten).
  case residual
}

/// Epilogue state for one output-channel block of one tile, passed by value into the
/// micro-kernels (which are inlined, so this folds into registers).
struct EpilogueBlock {
  let bias: UnsafePointer<Float>
  let kind: Epilogue
  let residual: UnsafePointer<Float>
  let residualPStride: Int
  /// Output channels of this block that exist (the block may be padded to whole vectors).
  let validLanes: Int

  @inline(__always)
  func finish(
    _ acc: SIMD16<Float>, pixel: Int, vector: Int, out: UnsafeMutablePointer<Float>, outPStride: Int
  ) {
    let lanes = validLanes &- 16 &* vector
    if lanes <= 0 { return }
    var v = acc + loadVector(bias + 16 &* vector)
    let dst = out + (pixel &* outPStride &+ 16 &* vector)
    if lanes >= 16 {
      switch kind {
      case .none: break
      case .relu: v = relu(v)
      case .leakyRelu: v = leakyRelu(v)
      case .residual: v += loadVector(residual + (pixel &* residualPStride &+ 16 &* vector))
      }
      storeVector(v, dst)
    } else {
      let res = residual + (pixel &* residualPStride &+ 16 &* vector)
      for lane in 0..<lanes {
        var s = v[lane]
        switch kind {
        case .none: break
        case .relu: s = s < 0 ? 0 : s
        case .leakyRelu: s = leakyRelu(s)
        case .residual: s += res[lane]
        }
        dst[lane] = s
      }
    }
  }
}
