// int8 3x3 convolution: u8 activation codes (asymmetric, calibrated) x s8 weights (symmetric
// per output channel), exact 32-bit sums, dequantised fp32 output with a fused epilogue. The
// packing, the staging and (on x86) the driver are shared; the micro-kernels are one backend's,
// chosen by the build's target (Package.swift): on x86 VNNI.swift (`vpdpbusd`, AVX-512 VNNI) or
// AVX2.swift (`vpmaddwd`), each with its generated Gen/*MicroKernels.swift; on aarch64 ARM.swift,
// which runs ARMDot.swift's `conv3x3Int8Dot` (`sdot` on ARMv8.2 dotprod builds, 16-bit
// multiply-adds otherwise). A backend defines `Int8Activation` (the staged code's storage), `Int8Weight` (the
// packed weight's storage), `int8CodeOffset` (what is subtracted from a u8 code to stage it:
// 128 where the activations are staged signed), `int8BlockChannels` and `int8BackendName`; the
// x86 ones also `Int8Accumulator`, `int8KernelPixels`, `dotAccumulate`, `loadInt32s` and
// `Int8Epilogue.store`. A 32-bit word holds `int8ChannelsPerWord` input channels of either.
// Every backend computes the same integers from the same table: `sum(w * (code - zeroPoint))`.
#if arch(x86_64) || arch(arm64)
  import ZSMKernels
  #if arch(arm64)
    import CZSMNeon
  #endif

  /// The staged form of the u8 activation code `code` (0...255): `code - int8CodeOffset`.
  @inline(__always)
  public func int8Staged(code: Int32) -> Int8Activation {
    Int8Activation(truncatingIfNeeded: code &- int8CodeOffset)
  }

  /// Input channels per 32-bit word of staged activations (and per lane of packed weights).
  let int8ChannelsPerWord = 4 / MemoryLayout<Int8Activation>.size

  /// A channels-last map of activation codes `q = round(x / scale) + zeroPoint` (0...255, stored
  /// as `Int8Activation`), with `channels` and `pixelStride` multiples of 4 and a one-pixel
  /// halo holding the zero point.
  public typealias Int8ActivationMap = FeatureMapOf<Int8Activation>

  /// Packed int8 weights of one 3x3 layer: per-output-channel symmetric scales
  /// (`w = q * scale`, q in -127...127), packed `[block][tap][cin / k][block channels][k]` with
  /// `k = int8ChannelsPerWord` (output channels padded to whole 64-channel blocks with zero
  /// weights), stored as `Int8Weight` (`weightBytes` of `storage`), with the zero-point
  /// correction `(int8CodeOffset - zeroPoint) * sum(q)` per output channel (the kernels sum
  /// `q * (code - int8CodeOffset)`) and the requantisation factor `activationScale *
  /// weightScale` per output channel.
  public struct Int8ConvWeights {
    public let inputChannels: Int
    public let outputChannels: Int
    /// The packed weights' bytes (`Int8Weight` elements).
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
      (9 * inputChannels * padded(outputChannels) * MemoryLayout<Int8Weight>.size, padded(outputChannels))
    }

    /// Quantises PyTorch `[out][in][3][3]` weights for inputs quantised with `activationScale`
    /// and `zeroPoint`. Packed output channel `o` is PyTorch channel `outputOrder(o)` (the
    /// pixel-shuffle order of the upconvs). `inputChannels` must be a multiple of 4; `weights`
    /// holds `storage(...).weightBytes` bytes.
    public static func pack(
      weights source: UnsafePointer<Float>, bias sourceBias: UnsafePointer<Float>, inputChannels cin: Int,
      outputChannels cout: Int, activationScale: Float, zeroPoint: Int32 = 128,
      outputOrder: (Int) -> Int = { $0 }, into weights: UnsafeMutablePointer<Int8>,
      correction: UnsafeMutablePointer<Int32>, outputScale: UnsafeMutablePointer<Float>,
      bias: UnsafeMutablePointer<Float>
    ) -> Int8ConvWeights {
      precondition(cin % 4 == 0, "int8 conv: input channels must be a multiple of 4")
      let padded = padded(cout)
      let k = int8ChannelsPerWord
      let width = int8BlockChannels
      let raw = UnsafeMutableRawPointer(weights)
      func put(_ q: Int32, o: Int, tap: Int, c: Int) {
        let index = (((o / width * 9 + tap) * (cin / k) + c / k) * width + o % width) * k + c % k
        raw.storeBytes(
          of: Int8Weight(q), toByteOffset: index * MemoryLayout<Int8Weight>.size, as: Int8Weight.self)
      }
      for o in 0..<padded {
        guard o < cout else {
          outputScale[o] = 0
          bias[o] = 0
          correction[o] = 0
          for tap in 0..<9 {
            for c in 0..<cin { put(0, o: o, tap: tap, c: c) }
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
            put(q, o: o, tap: tap, c: c)
          }
        }
        correction[o] = (int8CodeOffset - zeroPoint) * sum
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

  /// What the micro-kernel's stores need of one block of one tile: the per-channel
  /// requantisation factors and biases, the epilogue, the residual (the backend's `store`).
  struct Int8Epilogue {
    let scale: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
    let kind: Epilogue
    let residual: UnsafePointer<Float>
    let residualPStride: Int
  }

  /// int8 3x3 convolution, pad 1, stride 1 or 2, output rows `rows`, fp32 output with a fused
  /// epilogue. The input carries its halo of zero points. Every padded output channel is stored
  /// whole: `output.pixelStride` must leave room for `paddedOutputChannels`. `residual` (for
  /// `.residual`) is read at the same pixel and channel and may alias `output`.
  public func conv3x3Int8(
    input: Int8ActivationMap, weights: Int8ConvWeights, output: FeatureMap, stride: Int, epilogue: Epilogue,
    residual: FeatureMap? = nil, rows: Range<Int>
  ) {
    #if arch(arm64)
      conv3x3Int8ARM(
        input: input, weights: weights, output: output, stride: stride, epilogue: epilogue, residual: residual,
        rows: rows)
    #else
      conv3x3Int8X86(
        input: input, weights: weights, output: output, stride: stride, epilogue: epilogue, residual: residual,
        rows: rows)
    #endif
  }

  #if arch(x86_64)
    /// The x86 driver: tiles of `int8KernelPixels` pixels x `int8BlockChannels` channels (inlined:
    /// `.ci/run` finds the hot loop in `conv3x3Int8`'s disassembly).
    @inline(__always)
    func conv3x3Int8X86(
      input: Int8ActivationMap, weights: Int8ConvWeights, output: FeatureMap, stride: Int, epilogue: Epilogue,
      residual: FeatureMap?, rows: Range<Int>
    ) {
      let groups = weights.inputChannels / int8ChannelsPerWord
      let words = UnsafeRawPointer(input.base).assumingMemoryBound(to: UInt32.self)
      let pixelWords = input.pixelStride / int8ChannelsPerWord
      let rowWords = input.rowStride / int8ChannelsPerWord
      let blockWords = 9 * groups * int8BlockChannels
      let packed = UnsafeRawPointer(weights.weights).assumingMemoryBound(to: Int32.self)
      let res = residual ?? output
      for oy in rows {
        let a = words + ((oy &* stride &- 1) &* rowWords &- pixelWords)
        let outRow = output.base + oy &* output.rowStride
        let resRow = res.base + oy &* res.rowStride
        for block in 0..<(weights.paddedOutputChannels / int8BlockChannels) {
          let b = packed + block &* blockWords
          let correction = weights.correction + int8BlockChannels &* block
          let out = outRow + int8BlockChannels &* block
          var x = 0
          while x < output.width {
            let count = min(int8KernelPixels, output.width &- x)
            let tileA = a + x &* stride &* pixelWords
            let tileOut = out + x &* output.pixelStride
            let epi = Int8Epilogue(
              scale: weights.outputScale + int8BlockChannels &* block, bias: weights.bias + int8BlockChannels &* block,
              kind: epilogue, residual: UnsafePointer(resRow + (int8BlockChannels &* block &+ x &* res.pixelStride)),
              residualPStride: res.pixelStride)
            if count == int8KernelPixels {
              int8Kernel_p6(
                tileA, stride &* pixelWords, pixelWords, rowWords, groups, b, correction, tileOut, output.pixelStride,
                epi
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

  /// Input rows of codes `conv3x3Int8Staged` keeps per thread (at least 5: see there).
  public let int8StagedRows = 6

  /// Bytes of per-thread scratch `conv3x3Int8Staged` needs.
  public func int8StagingBytes(weights: Int8ConvWeights, inputWidth: Int, outputWidth: Int) -> Int {
    let rowBytes = (inputWidth + 2) * weights.inputChannels * MemoryLayout<Int8Activation>.size
    return (int8StagedRows * rowBytes + 63) / 64 * 64 + 2 * outputWidth * weights.paddedOutputChannels * 4
  }

  /// int8 convolution of an fp32 map: the input rows the output rows read are quantised
  /// (`q = clamp(round(x / scale) + zeroPoint, 0, 255)`, the layer's calibrated activation
  /// parameters) into a small buffer of `int8StagedRows` rows of codes with their halo of zero
  /// points, each input row once per call (the rows an output row shares with the previous one
  /// are kept; when the buffer is full, the two or one still needed move to its front), the
  /// backend's kernel runs on them, and the fp32 result is written in place (on x86, through a
  /// padded row when the output's channels are not whole 64-channel blocks). `scratch` holds
  /// `int8StagingBytes(...)` bytes for the calling thread.
  public func conv3x3Int8Staged(
    input: FeatureMap, weights: Int8ConvWeights, output: FeatureMap, stride: Int, epilogue: Epilogue,
    residual: FeatureMap?, rows: Range<Int>, scratch: UnsafeMutableRawPointer
  ) {
    let cin = weights.inputChannels
    let stagedPixels = input.width &+ 2
    let rowElements = stagedPixels &* cin
    let rowBytes = rowElements &* MemoryLayout<Int8Activation>.size
    let staged = scratch.assumingMemoryBound(to: Int8Activation.self)
    let wide = weights.paddedOutputChannels
    let outRow = (scratch + (int8StagedRows &* rowBytes &+ 63) / 64 * 64).assumingMemoryBound(to: Float.self)
    let residualRow = outRow + output.width &* wide
    // The x86 kernels store (and read the residual of) whole 64-channel blocks; the aarch64
    // kernel only the real channels (its partial 4-lane groups by lanes).
    #if arch(arm64)
      let stored = weights.outputChannels
    #else
      let stored = wide
    #endif
    let direct = output.pixelStride >= stored && (residual == nil || residual!.pixelStride >= stored)
    let zero = int8Staged(code: weights.zeroPoint)
    // Halo columns of the staged rows.
    for r in 0..<int8StagedRows {
      for c in 0..<cin {
        staged[r &* rowElements &+ c] = zero
        staged[r &* rowElements &+ (stagedPixels &- 1) &* cin &+ c] = zero
      }
    }
    let inverse = weights.inverseInputScale
    let zp = Float(weights.zeroPoint)
    // Staged row k holds input row `first + k`, for k < `held`.
    var first = 0
    var held = 0
    for oy in rows {
      let top = oy &* stride &- 1
      if held == 0 || top < first || top > first &+ held {
        first = top
        held = 0
      }
      while first &+ held < top &+ 3 {
        if held == int8StagedRows {
          // Keep rows top ..< first + held (at most 2) at the front. They start at row
          // top - first >= int8StagedRows - 2 >= 3 of the buffer, so the regions do not overlap.
          let keep = first &+ held &- top
          if keep > 0 {
            staged.update(from: staged + (top &- first) &* rowElements, count: keep &* rowElements)
          }
          first = top
          held = keep
        }
        let y = first &+ held
        let destination = staged + (held &* rowElements &+ cin)
        if y < 0 || y >= input.height {
          destination.update(repeating: zero, count: input.width &* cin)
        } else {
          for x in 0..<input.width {
            quantize(input.pixel(y, x), destination + x &* cin, cin, inverse, zp)
          }
        }
        held &+= 1
      }
      // The buffer as a map whose row `first` is staged row 0.
      let map = Int8ActivationMap(
        base: staged + (cin &- first &* rowElements), height: input.height, width: input.width,
        channels: cin, pixelStride: cin, rowStride: rowElements)
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
            (residualRow + x &* wide).update(from: residual.pixel(oy, x), count: weights.outputChannels)
          }
          resRow = FeatureMap(
            base: residualRow - (oy &* output.width &* wide), height: output.height, width: output.width,
            channels: wide, pixelStride: wide, rowStride: output.width &* wide)
        }
        conv3x3Int8(
          input: map, weights: weights, output: row, stride: stride, epilogue: epilogue, residual: resRow,
          rows: oy..<(oy &+ 1))
        for x in 0..<output.width {
          output.pixel(oy, x).update(from: outRow + x &* wide, count: weights.outputChannels)
        }
      }
    }
  }

  /// `count` floats to u8 codes, staged (`code - int8CodeOffset` as `Int8Activation`), 16 at a
  /// time (round half to even via the 1.5 * 2^23 trick, clamped to 0...255 before rounding).
  @inline(__always)
  func quantize(
    _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Int8Activation>, _ count: Int,
    _ inverse: Float,
    _ zeroPoint: Float
  ) {
    var c = 0
    let magic = SIMD16<Float>(repeating: 12_582_912)
    let offset = SIMD16<UInt32>(repeating: UInt32(int8CodeOffset))
    let top = SIMD16<Float>(repeating: 255)
    #if arch(arm64)
      // NEON narrowing from C (CZSMNeon): Swift's lane loop below stays 16 scalar byte stores on
      // aarch64 (x86 selects vpmovdb for it).
      while c &+ 16 <= count {
        zsm_quantize16(source + c, destination + c, inverse, zeroPoint, int8CodeOffset)
        c &+= 16
      }
    #endif
    while c &+ 16 <= count {
      var v = UnsafeRawPointer(source + c).loadUnaligned(as: SIMD16<Float>.self) * inverse + zeroPoint
      v = v.replacing(with: 0, where: .!(v .> SIMD16<Float>()))
      v = v.replacing(with: top, where: v .> top)
      // The low byte of the sum's bits is the code; minus the offset, truncated, the staged code.
      let bits = unsafeBitCast(v + magic, to: SIMD16<UInt32>.self) &- offset
      var q = SIMD16<Int8Activation>()
      for k in 0..<16 { q[k] = Int8Activation(truncatingIfNeeded: bits[k]) }
      UnsafeMutableRawPointer(destination + c).storeBytes(of: q, as: SIMD16<Int8Activation>.self)
      c &+= 16
    }
    while c < count {
      var v = source[c] * inverse + zeroPoint
      v = v > 0 ? (v < 255 ? v : 255) : 0
      destination[c] = Int8Activation(truncatingIfNeeded: (v + 12_582_912).bitPattern &- UInt32(int8CodeOffset))
      c &+= 1
    }
  }
#endif
