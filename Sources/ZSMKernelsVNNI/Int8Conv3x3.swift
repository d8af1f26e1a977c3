// int8 3x3 convolution with AVX-512 VNNI (`vpdpbusd`: 4 u8 x s8 products per 32-bit lane).
// This target exists only in builds for CPUs with avx512vnni (see Package.swift): LLVM cannot
// compile the instruction for others, and Swift has no per-function target attributes.
#if arch(x86_64)
  import Builtin
  import ZSMKernels

  @inline(__always)
  func dotAccumulate(_ acc: SIMD16<Int32>, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
    var o = SIMD16<Int32>()
    o._storage._value = Builtin.int_x86_avx512_vpdpbusd_512(acc._storage._value, a._storage._value, b._storage._value)
    return o
  }

  @inline(__always)
  func loadInt32s(_ p: UnsafePointer<Int32>) -> SIMD16<Int32> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Int32>.self)
  }

  /// Int32 -> Float in one instruction (the generic initialiser is a library call).
  @inline(__always)
  func convertToFloat(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var f = SIMD16<Float>()
    f._storage._value = Builtin.sitofp_Vec16xInt32_Vec16xFPIEEE32(v._storage._value)
    return f
  }

  /// A channels-last map of 8-bit activations `q = round(x / scale) + zeroPoint`, with
  /// `channels` and `pixelStride` multiples of 4 and a one-pixel halo holding the zero point.
  public typealias FeatureMapU8 = FeatureMapOf<UInt8>

  /// Packed int8 weights of one 3x3 layer: per-output-channel symmetric scales
  /// (`w = q * scale`, q in -127...127), packed `[block of 64][tap][cin / 4][64][4]`, with the
  /// zero-point correction `-128 * sum(q)` per output channel and the requantisation factor
  /// `activationScale * weightScale` per output channel.
  public struct Int8ConvWeights {
    public let inputChannels: Int
    public let outputChannels: Int
    public let weights: UnsafePointer<Int8>
    public let correction: UnsafePointer<Int32>
    public let outputScale: UnsafePointer<Float>
    public let bias: UnsafePointer<Float>

    /// Floats, Int32s and bytes of storage `pack` needs.
    public static func storage(inputChannels: Int, outputChannels: Int) -> (weightBytes: Int, perChannel: Int) {
      (9 * inputChannels * outputChannels, outputChannels)
    }

    /// Quantises PyTorch `[out][in][3][3]` weights. `activationScale` is the input's scale.
    /// `inputChannels` must be a multiple of 4 and `outputChannels` of 64.
    public static func pack(
      weights source: UnsafePointer<Float>, bias sourceBias: UnsafePointer<Float>, inputChannels cin: Int,
      outputChannels cout: Int, activationScale: Float, into weights: UnsafeMutablePointer<Int8>,
      correction: UnsafeMutablePointer<Int32>, outputScale: UnsafeMutablePointer<Float>,
      bias: UnsafeMutablePointer<Float>
    ) -> Int8ConvWeights {
      precondition(cin % 4 == 0 && cout % 64 == 0)
      for o in 0..<cout {
        var largest: Float = 0
        for i in 0..<(cin * 9) { largest = max(largest, abs(source[o * cin * 9 + i])) }
        let scale = largest > 0 ? largest / 127 : 1
        outputScale[o] = activationScale * scale
        bias[o] = sourceBias[o]
        var sum: Int32 = 0
        let block = o / 64
        let lane = o % 64
        for tap in 0..<9 {
          for c in 0..<cin {
            let q = Int32(max(-127, min(127, (source[(o * cin + c) * 9 + tap] / scale).rounded())))
            sum += q
            let index = (((block * 9 + tap) * (cin / 4) + c / 4) * 64 + lane) * 4 + c % 4
            weights[index] = Int8(q)
          }
        }
        correction[o] = -128 * sum
      }
      return Int8ConvWeights(
        inputChannels: cin, outputChannels: cout, weights: weights, correction: correction, outputScale: outputScale,
        bias: bias)
    }

    public init(
      inputChannels: Int, outputChannels: Int, weights: UnsafePointer<Int8>, correction: UnsafePointer<Int32>,
      outputScale: UnsafePointer<Float>, bias: UnsafePointer<Float>
    ) {
      self.inputChannels = inputChannels
      self.outputChannels = outputChannels
      self.weights = weights
      self.correction = correction
      self.outputScale = outputScale
      self.bias = bias
    }
  }

  /// Dequantise, add the bias, apply the activation, store fp32 (one 64-channel block).
  struct Int8Epilogue {
    let scale: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
    let kind: Epilogue

    @inline(__always)
    func store(_ acc: SIMD16<Int32>, pixel: Int, vector: Int, out: UnsafeMutablePointer<Float>, outPStride: Int) {
      let s = UnsafeRawPointer(scale + 16 &* vector).loadUnaligned(as: SIMD16<Float>.self)
      let b = UnsafeRawPointer(bias + 16 &* vector).loadUnaligned(as: SIMD16<Float>.self)
      var v = b.addingProduct(convertToFloat(acc), s)
      switch kind {
      case .relu: v = v.replacing(with: 0, where: v .< 0)
      case .leakyRelu: v = v.replacing(with: v * leakySlope, where: v .< 0)
      default: break
      }
      UnsafeMutableRawPointer(out + (pixel &* outPStride &+ 16 &* vector)).storeBytes(of: v, as: SIMD16<Float>.self)
    }
  }

  /// int8 3x3 convolution, pad 1, stride 1 or 2, output rows `rows`, fp32 output with a fused
  /// epilogue (none, ReLU or LeakyReLU). The input carries its halo of 128s.
  public func conv3x3Int8(
    input: FeatureMapU8, weights: Int8ConvWeights, output: FeatureMap, stride: Int, epilogue: Epilogue,
    rows: Range<Int>
  ) {
    precondition(epilogue != .residual, "the int8 convolution has no residual epilogue")
    let groups = weights.inputChannels / 4
    let words = UnsafeRawPointer(input.base).assumingMemoryBound(to: UInt32.self)
    let pixelWords = input.pixelStride / 4
    let rowWords = input.rowStride / 4
    let blockWeights = 9 * groups * 64 * 4
    for oy in rows {
      let a = words + ((oy &* stride &- 1) &* rowWords &- pixelWords)
      let outRow = output.base + oy &* output.rowStride
      for block in 0..<(weights.outputChannels / 64) {
        let b = UnsafeRawPointer(weights.weights + block &* blockWeights).assumingMemoryBound(to: Int32.self)
        let epi = Int8Epilogue(
          scale: weights.outputScale + 64 &* block, bias: weights.bias + 64 &* block, kind: epilogue)
        let correction = weights.correction + 64 &* block
        let out = outRow + 64 &* block
        var x = 0
        while x < output.width {
          let count = min(int8KernelPixels, output.width &- x)
          let tileA = a + x &* stride &* pixelWords
          let tileOut = out + x &* output.pixelStride
          if count == int8KernelPixels {
            int8Kernel_p6(
              tileA, stride &* pixelWords, pixelWords, rowWords, groups, b, correction, tileOut, output.pixelStride, epi
            )
          } else {
            int8KernelTail(
              count, tileA, stride &* pixelWords, pixelWords, rowWords, groups, b, correction, tileOut,
              output.pixelStride, epi)
          }
          x &+= count
        }
      }
    }
  }
#endif
