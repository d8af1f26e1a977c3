/// Packed weight layout shared by the 3x3, 1x1 and deformable convolutions.
///
/// Output channels are padded to a multiple of 16 and cut into blocks of 64 channels, then at
/// most one block of 32 and one of 16 (216 -> 64+64+64+32; 3 -> 16) on x86 with AVX-512
/// (`ZSM_AVX512`); on every other target (aarch64, AVX2) into blocks of 16, the widest whose
/// micro-kernel tile fits the registers (Tools/gen-kernels.py). Block `[o0, o0+nr)` is
/// stored as `[tap][ic][nr]`, so the reduction index `K = tap * Cin + ic` walks the block's
/// weights contiguously; blocks follow each other (block `o0` starts at `o0 * taps * Cin`).
public struct ConvWeightLayout: Sendable, Equatable {
  public let inputChannels: Int
  public let outputChannels: Int
  /// 9 for a 3x3 kernel, 1 for 1x1.
  public let taps: Int

  public init(inputChannels: Int, outputChannels: Int, taps: Int) {
    self.inputChannels = inputChannels
    self.outputChannels = outputChannels
    self.taps = taps
  }

  /// Output channels rounded up to whole 16-lane vectors.
  public var paddedOutputChannels: Int { (outputChannels + 15) / 16 * 16 }

  /// Floats of packed weights.
  public var packedWeightCount: Int { paddedOutputChannels * taps * inputChannels }

  /// Floats of packed bias (zero past `outputChannels`).
  public var packedBiasCount: Int { paddedOutputChannels }

  /// The widest output-channel block of this build: 64 with AVX-512 (`ZSM_AVX512`), else 16.
  #if ZSM_AVX512
    public static let widestBlock = 64
  #else
    public static let widestBlock = 16
  #endif

  /// Width of the block that starts at output channel `o0` (always 16 without AVX-512, where
  /// wider tiles would not fit the registers; see Tools/gen-kernels.py).
  @inline(__always)
  public func blockWidth(at o0: Int) -> Int {
    #if ZSM_AVX512
      let remaining = paddedOutputChannels - o0
      return remaining >= 64 ? 64 : (remaining >= 32 ? 32 : 16)
    #else
      return 16
    #endif
  }

  /// Packs PyTorch `[out][in][kh][kw]` weights and `[out]` bias.
  ///
  /// - Parameter outputOrder: maps a packed output channel to the source output channel
  ///   (identity by default); the model uses it to emit pixel-shuffle phases contiguously.
  public func pack(
    weights source: UnsafePointer<Float>, bias sourceBias: UnsafePointer<Float>,
    into weights: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>,
    outputOrder: (Int) -> Int = { $0 }
  ) {
    let cin = inputChannels
    var o0 = 0
    while o0 < paddedOutputChannels {
      let nr = blockWidth(at: o0)
      let block = weights + o0 * taps * cin
      for tap in 0..<taps {
        for ic in 0..<cin {
          for j in 0..<nr {
            let o = o0 + j
            var value: Float = 0
            if o < outputChannels {
              value = source[(outputOrder(o) * cin + ic) * taps + tap]
            }
            block[(tap * cin + ic) * nr + j] = value
          }
        }
      }
      o0 += nr
    }
    for o in 0..<paddedOutputChannels {
      bias[o] = o < outputChannels ? sourceBias[outputOrder(o)] : 0
    }
  }
}

/// Read-only view of packed weights and bias.
public struct PackedConvWeights {
  public let layout: ConvWeightLayout
  public let weights: UnsafePointer<Float>
  public let bias: UnsafePointer<Float>

  public init(layout: ConvWeightLayout, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
    self.layout = layout
    self.weights = weights
    self.bias = bias
  }
}
