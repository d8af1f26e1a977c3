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
  /// (`w = q * scale`, q in -127...127), packed `[block of 64][tap][cin / 4][64][4]` (output
  /// channels padded to whole blocks with zero weights), with the zero-point correction
  /// `-zeroPoint * sum(q)` per output channel and the requantisation factor
  /// `activationScale * weightScale` per output channel.
  public struct Int8ConvWeights {
    public let inputChannels: Int
    public let outputChannels: Int
    public let weights: UnsafePointer<Int8>
    public let correction: UnsafePointer<Int32>
    public let outputScale: UnsafePointer<Float>
    public let bias: UnsafePointer<Float>
    /// The input activations' zero point (the halo holds it; it stands for 0.0).
    public let zeroPoint: Int32
    /// 1 / the input activations' scale (quantisation multiplies by it).
    public let inverseInputScale: Float

    /// Output channels rounded up to whole 64-channel blocks.
    public var paddedOutputChannels: Int { Self.padded(outputChannels) }
    static func padded(_ cout: Int) -> Int { (cout + 63) / 64 * 64 }

    /// Bytes of weights and entries of the per-channel arrays `pack` fills.
    public static func storage(inputChannels: Int, outputChannels: Int) -> (weightBytes: Int, perChannel: Int) {
      (9 * inputChannels * padded(outputChannels), padded(outputChannels))
    }

    /// Quantises PyTorch `[out][in][3][3]` weights for inputs quantised with `activationScale`
    /// and `zeroPoint`. Packed output channel `o` is PyTorch channel `outputOrder(o)` (the
    /// pixel-shuffle order of the upconvs). `inputChannels` must be a multiple of 4.
    public static func pack(
      weights source: UnsafePointer<Float>, bias sourceBias: UnsafePointer<Float>, inputChannels cin: Int,
      outputChannels cout: Int, activationScale: Float, zeroPoint: Int32 = 128,
      outputOrder: (Int) -> Int = { $0 }, into weights: UnsafeMutablePointer<Int8>,
      correction: UnsafeMutablePointer<Int32>, outputScale: UnsafeMutablePointer<Float>,
      bias: UnsafeMutablePointer<Float>
    ) -> Int8ConvWeights {
      precondition(cin % 4 == 0, "int8 conv: input channels must be a multiple of 4")
      let padded = padded(cout)
      for o in 0..<padded {
        let block = o / 64
        let lane = o % 64
        guard o < cout else {
          outputScale[o] = 0
          bias[o] = 0
          correction[o] = 0
          for tap in 0..<9 {
            for c in 0..<cin { weights[(((block * 9 + tap) * (cin / 4) + c / 4) * 64 + lane) * 4 + c % 4] = 0 }
          }
          continue
        }
        let source = source + outputOrder(o) * cin * 9
        var largest: Float = 0
        for i in 0..<(cin * 9) { largest = max(largest, abs(source[i])) }
        let scale = largest > 0 ? largest / 127 : 1
        outputScale[o] = activationScale * scale
        bias[o] = sourceBias[outputOrder(o)]
        var sum: Int32 = 0
        for tap in 0..<9 {
          for c in 0..<cin {
            let q = Int32(max(-127, min(127, (source[c * 9 + tap] / scale).rounded())))
            sum += q
            let index = (((block * 9 + tap) * (cin / 4) + c / 4) * 64 + lane) * 4 + c % 4
            weights[index] = Int8(q)
          }
        }
        correction[o] = -zeroPoint * sum
      }
      return Int8ConvWeights(
        inputChannels: cin, outputChannels: cout, weights: weights, correction: correction, outputScale: outputScale,
        bias: bias, zeroPoint: zeroPoint, inverseInputScale: 1 / activationScale)
    }

    public init(
      inputChannels: Int, outputChannels: Int, weights: UnsafePointer<Int8>, correction: UnsafePointer<Int32>,
      outputScale: UnsafePointer<Float>, bias: UnsafePointer<Float>, zeroPoint: Int32 = 128,
      inverseInputScale: Float = 1
    ) {
      self.inputChannels = inputChannels
      self.outputChannels = outputChannels
      self.weights = weights
      self.correction = correction
      self.outputScale = outputScale
      self.bias = bias
      self.zeroPoint = zeroPoint
      self.inverseInputScale = inverseInputScale
    }
  }

  /// Dequantise, add the bias, apply the activation (or add the fp32 residual), store fp32
  /// (one 64-channel block of one tile).
  struct Int8Epilogue {
    let scale: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
    let kind: Epilogue
    let residual: UnsafePointer<Float>
    let residualPStride: Int

    @inline(__always)
    func store(_ acc: SIMD16<Int32>, pixel: Int, vector: Int, out: UnsafeMutablePointer<Float>, outPStride: Int) {
      let s = UnsafeRawPointer(scale + 16 &* vector).loadUnaligned(as: SIMD16<Float>.self)
      let b = UnsafeRawPointer(bias + 16 &* vector).loadUnaligned(as: SIMD16<Float>.self)
      var v = b.addingProduct(convertToFloat(acc), s)
      switch kind {
      case .relu: v = v.replacing(with: 0, where: v .< 0)
      case .leakyRelu: v = v.replacing(with: v * leakySlope, where: v .< 0)
      case .residual:
        v += UnsafeRawPointer(residual + (pixel &* residualPStride &+ 16 &* vector)).loadUnaligned(
          as: SIMD16<Float>.self)
      case .none: break
      }
      UnsafeMutableRawPointer(out + (pixel &* outPStride &+ 16 &* vector)).storeBytes(of: v, as: SIMD16<Float>.self)
    }
  }

  /// int8 3x3 convolution, pad 1, stride 1 or 2, output rows `rows`, fp32 output with a fused
  /// epilogue. The input carries its halo of zero points. Every 64-channel block is stored
  /// whole: `output.pixelStride` must leave room for `paddedOutputChannels`. `residual` (for
  /// `.residual`) is read at the same pixel and channel and may alias `output`.
  public func conv3x3Int8(
    input: FeatureMapU8, weights: Int8ConvWeights, output: FeatureMap, stride: Int, epilogue: Epilogue,
    residual: FeatureMap? = nil, rows: Range<Int>
  ) {
    let groups = weights.inputChannels / 4
    let words = UnsafeRawPointer(input.base).assumingMemoryBound(to: UInt32.self)
    let pixelWords = input.pixelStride / 4
    let rowWords = input.rowStride / 4
    let blockWeights = 9 * groups * 64 * 4
    let res = residual ?? output
    for oy in rows {
      let a = words + ((oy &* stride &- 1) &* rowWords &- pixelWords)
      let outRow = output.base + oy &* output.rowStride
      let resRow = res.base + oy &* res.rowStride
      for block in 0..<(weights.paddedOutputChannels / 64) {
        let b = UnsafeRawPointer(weights.weights + block &* blockWeights).assumingMemoryBound(to: Int32.self)
        let correction = weights.correction + 64 &* block
        let out = outRow + 64 &* block
        var x = 0
        while x < output.width {
          let count = min(int8KernelPixels, output.width &- x)
          let tileA = a + x &* stride &* pixelWords
          let tileOut = out + x &* output.pixelStride
          let epi = Int8Epilogue(
            scale: weights.outputScale + 64 &* block, bias: weights.bias + 64 &* block, kind: epilogue,
            residual: UnsafePointer(resRow + (64 &* block &+ x &* res.pixelStride)), residualPStride: res.pixelStride)
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

  /// Bytes of per-thread scratch `conv3x3Int8Staged` needs.
  public func int8StagingBytes(weights: Int8ConvWeights, inputWidth: Int, outputWidth: Int) -> Int {
    let rowBytes = (inputWidth + 2) * weights.inputChannels
    return (3 * rowBytes + 63) / 64 * 64 + 2 * outputWidth * weights.paddedOutputChannels * 4
  }

  /// int8 convolution of an fp32 map: for every output row the three input rows it reads are
  /// quantised (`q = clamp(round(x / scale) + zeroPoint, 0, 255)`, the layer's calibrated
  /// activation parameters) into a small u8 buffer with its halo of zero points, the VNNI
  /// kernel runs on it, and the fp32 result is written in place (or through a padded row when
  /// the output's channels are not whole 64-channel blocks). `scratch` holds
  /// `int8StagingBytes(...)` bytes for the calling thread.
  public func conv3x3Int8Staged(
    input: FeatureMap, weights: Int8ConvWeights, output: FeatureMap, stride: Int, epilogue: Epilogue,
    residual: FeatureMap?, rows: Range<Int>, scratch: UnsafeMutableRawPointer
  ) {
    let cin = weights.inputChannels
    let stagedPixels = input.width &+ 2
    let rowBytes = stagedPixels &* cin
    let staged = scratch.assumingMemoryBound(to: UInt8.self)
    let wide = weights.paddedOutputChannels
    let outRow = (scratch + (3 &* rowBytes &+ 63) / 64 * 64).assumingMemoryBound(to: Float.self)
    let residualRow = outRow + output.width &* wide
    let direct = output.pixelStride >= wide && (residual == nil || residual!.pixelStride >= wide)
    let zero = UInt8(truncatingIfNeeded: weights.zeroPoint)
    // Halo columns of the three staged rows.
    for r in 0..<3 {
      for c in 0..<cin {
        staged[r &* rowBytes &+ c] = zero
        staged[r &* rowBytes &+ (stagedPixels &- 1) &* cin &+ c] = zero
      }
    }
    let inverse = weights.inverseInputScale
    let zp = Float(weights.zeroPoint)
    for oy in rows {
      for r in 0..<3 {
        let y = oy &* stride &- 1 &+ r
        let destination = staged + (r &* rowBytes &+ cin)
        if y < 0 || y >= input.height {
          destination.update(repeating: zero, count: input.width &* cin)
        } else {
          for x in 0..<input.width {
            quantize(input.pixel(y, x), destination + x &* cin, cin, inverse, zp)
          }
        }
      }
      // The buffer as a map whose row `oy*stride - 1` is staged row 0.
      let map = FeatureMapU8(
        base: staged + (cin &- (oy &* stride &- 1) &* rowBytes), height: input.height, width: input.width,
        channels: cin, pixelStride: cin, rowStride: rowBytes)
      if direct {
        conv3x3Int8(
          input: map, weights: weights, output: output, stride: stride, epilogue: epilogue, residual: residual,
          rows: oy..<(oy &+ 1))
      } else {
        let row = FeatureMap(
          base: outRow - (oy &* output.width &* wide), height: output.height, width: output.width, channels: wide,
          pixelStride: wide, rowStride: output.width &* wide)
        var resRow: FeatureMap? = nil
        if epilogue == .residual, let residual {
          for x in 0..<output.width {
            let source = residual.pixel(oy, x)
            let destination = residualRow + x &* wide
            for c in 0..<weights.outputChannels { destination[c] = source[c] }
          }
          resRow = FeatureMap(
            base: residualRow - (oy &* output.width &* wide), height: output.height, width: output.width,
            channels: wide, pixelStride: wide, rowStride: output.width &* wide)
        }
        conv3x3Int8(
          input: map, weights: weights, output: row, stride: stride, epilogue: epilogue, residual: resRow,
          rows: oy..<(oy &+ 1))
        for x in 0..<output.width {
          let source = outRow + x &* wide
          let destination = output.pixel(oy, x)
          for c in 0..<weights.outputChannels { destination[c] = source[c] }
        }
      }
    }
  }

  /// `count` floats to u8 codes, 16 at a time (round half to even via the 1.5 * 2^23 trick,
  /// clamped to 0...255 before rounding).
  @inline(__always)
  func quantize(
    _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt8>, _ count: Int, _ inverse: Float,
    _ zeroPoint: Float
  ) {
    var c = 0
    let magic = SIMD16<Float>(repeating: 12_582_912)
    while c &+ 16 <= count {
      var v = UnsafeRawPointer(source + c).loadUnaligned(as: SIMD16<Float>.self) * inverse + zeroPoint
      v = v.replacing(with: 0, where: .!(v .> 0))
      v = v.replacing(with: 255, where: v .> 255)
      let bits = unsafeBitCast(v + magic, to: SIMD16<UInt32>.self)
      var q = SIMD16<UInt8>()
      for k in 0..<16 { q[k] = UInt8(truncatingIfNeeded: bits[k]) }
      UnsafeMutableRawPointer(destination + c).storeBytes(of: q, as: SIMD16<UInt8>.self)
      c &+= 16
    }
    while c < count {
      var v = source[c] * inverse + zeroPoint
      v = v > 0 ? (v < 255 ? v : 255) : 0
      destination[c] = UInt8(truncatingIfNeeded: (v + 12_582_912).bitPattern)
      c &+= 1
    }
  }
#endif
