// Reduced-precision 3x3 convolutions for ARM (issue 7): fp16 arithmetic (`fmla v.8h`, by element)
// and int8 products (`sdot v.4s, v.16b, v.4b[i]`, or `smull`/`smlal`/`sadalp` without it).
//
// Both exist only on arm64. They compile for every arm64 CPU, but they are fast only where the
// CPU has the instructions:
// - `conv3x3F16Arith` needs ARMv8.2 FP16 (`-Xcc -march=armv8.2-a+fp16`); without it LLVM
//   scalarises every `SIMD8<Float16>` FMA (correct, about 15x slower: use `conv3x3F16`, fp16
//   storage with fp32 arithmetic, on such CPUs).
// - `conv3x3Int8Dot` (the aarch64 backend of ZSMKernelsInt8's `conv3x3Int8`, the network's int8
//   path) uses `sdot` when the module is compiled with `-D ZSM_DOTPROD -Xcc
//   -march=armv8.2-a+dotprod` (Package.swift does for a board whose `build.march` has
//   `+dotprod`); otherwise (ARMv8.0) widening multiplies: per 4 input channels, `uzp1`/`uzp2`
//   pair the weights' input channels, `dup .8h` splats an input pair, and `smull`, `smlal`,
//   `sadalp` accumulate 32 products in 3 instructions, the same integers. SDot.swift imports
//   both from C (CZSMNeon's header, inlined): LLVM forms `sdot` from a plain scalar dot-product
//   loop but not from the lane loops a register-blocked tile needs, and the 16-bit lane
//   arithmetic that Swift SIMD can write took about 10 instructions per 16 products.
// Tests/ARM64/run.sh checks both against scalar references under qemu and counts the executed
// instructions per output element against the fp32 `conv3x3`.
#if arch(arm64)

  // MARK: - fp16 arithmetic

  @inline(__always)
  func loadHalf8(_ p: UnsafePointer<Float16>) -> SIMD8<Float16> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float16>.self)
  }

  /// `acc + w * x[lane]` in fp16, one rounding (`fmla v.8h, v.8h, v.h[lane]`).
  @inline(__always)
  func fmaLane(_ acc: SIMD8<Float16>, _ w: SIMD8<Float16>, _ x: SIMD8<Float16>, _ lane: Int) -> SIMD8<Float16> {
    acc.addingProduct(w, SIMD8<Float16>(repeating: x[lane]))
  }

  /// fp16 -> fp32 lane by lane (fcvtl/fcvtl2; the generic initialiser is a call).
  @inline(__always)
  func widenHalves(_ lo: SIMD8<Float16>, _ hi: SIMD8<Float16>) -> SIMD16<Float> {
    var f = SIMD16<Float>()
    for k in 0..<8 {
      f[k] = Float(lo[k])
      f[k &+ 8] = Float(hi[k])
    }
    return f
  }

  /// Pixel slots of the fp16 tile: 8 pixels x 16 channels = 16 fp16 accumulators, 8 input vectors
  /// (which must sit in v0-v15 for `fmla v.h[i]`), 2 weight vectors: 26 of the 32 registers.
  let f16TilePixels = 8

  /// One tile of `pixels` (a constant after inlining: 8 or 4) output pixels x 16 output channels,
  /// of which the first `count` are stored (the others recompute pixel `count - 1`). Each kernel
  /// row (3 taps x Cin products) is accumulated in fp16 with fused multiply-adds, then widened and
  /// added into fp32 sums: no fp16 sum runs longer than 3 * Cin terms. Where a pixel's channels
  /// are dense (`kxStride == cin`) the three taps of a kernel row are one run of 3 * Cin halves.
  @inline(__always)
  func f16Tile(
    pixels: Int, count: Int, a: UnsafePointer<Float16>, pStride: Int, kxStride: Int, kyStride: Int, cin: Int,
    b: UnsafePointer<Float16>, bias: UnsafePointer<Float>, epilogue: Epilogue, residual: FeatureMapF16?,
    residualAt: (y: Int, x: Int), out: UnsafeMutablePointer<Float16>, outPStride: Int, validLanes: Int
  ) {
    let last = count &- 1
    let a0 = a
    let a1 = a + min(1, last) &* pStride
    let a2 = a + min(2, last) &* pStride
    let a3 = a + min(3, last) &* pStride
    let a4 = a + min(4, last) &* pStride
    let a5 = a + min(5, last) &* pStride
    let a6 = a + min(6, last) &* pStride
    let a7 = a + min(7, last) &* pStride
    let dense = kxStride == cin
    let runs = dense ? 1 : 3
    let runLength = dense ? 3 &* cin : cin
    var s0 = SIMD16<Float>()
    var s1 = SIMD16<Float>()
    var s2 = SIMD16<Float>()
    var s3 = SIMD16<Float>()
    var s4 = SIMD16<Float>()
    var s5 = SIMD16<Float>()
    var s6 = SIMD16<Float>()
    var s7 = SIMD16<Float>()
    var bp = b
    for ky in 0..<3 {
      var c0l = SIMD8<Float16>()
      var c0h = SIMD8<Float16>()
      var c1l = SIMD8<Float16>()
      var c1h = SIMD8<Float16>()
      var c2l = SIMD8<Float16>()
      var c2h = SIMD8<Float16>()
      var c3l = SIMD8<Float16>()
      var c3h = SIMD8<Float16>()
      var c4l = SIMD8<Float16>()
      var c4h = SIMD8<Float16>()
      var c5l = SIMD8<Float16>()
      var c5h = SIMD8<Float16>()
      var c6l = SIMD8<Float16>()
      var c6h = SIMD8<Float16>()
      var c7l = SIMD8<Float16>()
      var c7h = SIMD8<Float16>()
      // One input channel for every pixel: x_p holds it in lane `j` (or everywhere, j 0).
      @inline(__always)
      func step(
        _ x0: SIMD8<Float16>, _ x1: SIMD8<Float16>, _ x2: SIMD8<Float16>, _ x3: SIMD8<Float16>, _ x4: SIMD8<Float16>,
        _ x5: SIMD8<Float16>, _ x6: SIMD8<Float16>, _ x7: SIMD8<Float16>, _ j: Int
      ) {
        let wl = loadHalf8(bp)
        let wh = loadHalf8(bp + 8)
        c0l = fmaLane(c0l, wl, x0, j)
        c0h = fmaLane(c0h, wh, x0, j)
        c1l = fmaLane(c1l, wl, x1, j)
        c1h = fmaLane(c1h, wh, x1, j)
        c2l = fmaLane(c2l, wl, x2, j)
        c2h = fmaLane(c2h, wh, x2, j)
        c3l = fmaLane(c3l, wl, x3, j)
        c3h = fmaLane(c3h, wh, x3, j)
        if pixels > 4 {
          c4l = fmaLane(c4l, wl, x4, j)
          c4h = fmaLane(c4h, wh, x4, j)
          c5l = fmaLane(c5l, wl, x5, j)
          c5h = fmaLane(c5h, wh, x5, j)
          c6l = fmaLane(c6l, wl, x6, j)
          c6h = fmaLane(c6h, wh, x6, j)
          c7l = fmaLane(c7l, wl, x7, j)
          c7h = fmaLane(c7h, wh, x7, j)
        }
        bp += 16
      }
      for run in 0..<runs {
        let off = ky &* kyStride &+ run &* kxStride
        var ic = 0
        while ic &+ 8 <= runLength {
          let x0 = loadHalf8(a0 + (off &+ ic))
          let x1 = loadHalf8(a1 + (off &+ ic))
          let x2 = loadHalf8(a2 + (off &+ ic))
          let x3 = loadHalf8(a3 + (off &+ ic))
          let x4 = pixels > 4 ? loadHalf8(a4 + (off &+ ic)) : x3
          let x5 = pixels > 4 ? loadHalf8(a5 + (off &+ ic)) : x3
          let x6 = pixels > 4 ? loadHalf8(a6 + (off &+ ic)) : x3
          let x7 = pixels > 4 ? loadHalf8(a7 + (off &+ ic)) : x3
          // Eight literal lanes: a loop over them is not unrolled and indexes the vectors through
          // the stack.
          step(x0, x1, x2, x3, x4, x5, x6, x7, 0)
          step(x0, x1, x2, x3, x4, x5, x6, x7, 1)
          step(x0, x1, x2, x3, x4, x5, x6, x7, 2)
          step(x0, x1, x2, x3, x4, x5, x6, x7, 3)
          step(x0, x1, x2, x3, x4, x5, x6, x7, 4)
          step(x0, x1, x2, x3, x4, x5, x6, x7, 5)
          step(x0, x1, x2, x3, x4, x5, x6, x7, 6)
          step(x0, x1, x2, x3, x4, x5, x6, x7, 7)
          ic &+= 8
        }
        while ic < runLength {  // channels past the last multiple of 8
          @inline(__always)
          func splat(_ p: UnsafePointer<Float16>) -> SIMD8<Float16> { SIMD8<Float16>(repeating: p[off &+ ic]) }
          step(splat(a0), splat(a1), splat(a2), splat(a3), splat(a4), splat(a5), splat(a6), splat(a7), 0)
          ic &+= 1
        }
      }
      s0 += widenHalves(c0l, c0h)
      s1 += widenHalves(c1l, c1h)
      s2 += widenHalves(c2l, c2h)
      s3 += widenHalves(c3l, c3h)
      if pixels > 4 {
        s4 += widenHalves(c4l, c4h)
        s5 += widenHalves(c5l, c5h)
        s6 += widenHalves(c6l, c6h)
        s7 += widenHalves(c7l, c7h)
      }
    }
    let biasV = UnsafeRawPointer(bias).loadUnaligned(as: SIMD16<Float>.self)
    f16Finish(s0 + biasV, 0, count, epilogue, residual, residualAt, out, outPStride, validLanes)
    f16Finish(s1 + biasV, 1, count, epilogue, residual, residualAt, out, outPStride, validLanes)
    f16Finish(s2 + biasV, 2, count, epilogue, residual, residualAt, out, outPStride, validLanes)
    f16Finish(s3 + biasV, 3, count, epilogue, residual, residualAt, out, outPStride, validLanes)
    if pixels > 4 {
      f16Finish(s4 + biasV, 4, count, epilogue, residual, residualAt, out, outPStride, validLanes)
      f16Finish(s5 + biasV, 5, count, epilogue, residual, residualAt, out, outPStride, validLanes)
      f16Finish(s6 + biasV, 6, count, epilogue, residual, residualAt, out, outPStride, validLanes)
      f16Finish(s7 + biasV, 7, count, epilogue, residual, residualAt, out, outPStride, validLanes)
    }
  }

  /// Activation (or residual) on fp32 `conv + bias`, rounded to fp16 and stored.
  @inline(__always)
  func f16Finish(
    _ sum: SIMD16<Float>, _ pixel: Int, _ count: Int, _ epilogue: Epilogue, _ residual: FeatureMapF16?,
    _ residualAt: (y: Int, x: Int), _ out: UnsafeMutablePointer<Float16>, _ outPStride: Int, _ validLanes: Int
  ) {
    if pixel >= count { return }
    var v = sum
    let lanes = min(validLanes, 16)
    switch epilogue {
    case .none: break
    case .relu: v = relu(v)
    case .leakyRelu: v = leakyRelu(v)
    case .residual:
      if let residual {
        let r = residual.pixel(residualAt.y, residualAt.x &+ pixel)
        for k in 0..<lanes { v[k] += Float(r[k]) }
      }
    }
    var lo = SIMD8<Float16>()
    var hi = SIMD8<Float16>()
    for k in 0..<8 {  // fcvtn, fcvtn2 (the generic initialiser is a call)
      lo[k] = Float16(v[k])
      hi[k] = Float16(v[k &+ 8])
    }
    let dst = out + pixel &* outPStride
    if lanes == 16 {
      UnsafeMutableRawPointer(dst).storeBytes(of: lo, as: SIMD8<Float16>.self)
      UnsafeMutableRawPointer(dst + 8).storeBytes(of: hi, as: SIMD8<Float16>.self)
    } else {
      for k in 0..<lanes { dst[k] = k < 8 ? lo[k] : hi[k &- 8] }
    }
  }

  /// 3x3 convolution (pad 1, stride 1 or 2) with Float16 input, weights and output and fp16
  /// arithmetic: fused multiply-adds in fp16 (`fmla v.8h` by element, tiles of 8 pixels x 16
  /// channels), each kernel row's partial sum (3 x Cin products) added into fp32, and bias,
  /// activation and the final rounding done from fp32. Error (Tests/ARM64/selftest.c, Cin 64,
  /// random data): at most 1.7 u of |bias| + sum |w x| (u = 2^-11), tested against 8 u. In a C
  /// simulation one fp16 sum over all 576 products erred by up to 3.4 u, one per tap by 0.6 u
  /// (at three times the fp32 flushes, about 6 more instructions per output element).
  /// Weights are the fp16 packing of `conv3x3F16` (the `ConvWeightLayout` order, blocks of
  /// 16 output channels on arm64); `input` carries its one-pixel zero halo. Epilogues: none,
  /// ReLU, LeakyReLU, and residual (`residual` read at the output pixel; it may be `output`).
  /// Partial sums beyond the fp16 range (65504) overflow to infinity. Fast only on CPUs with
  /// ARMv8.2 FP16 arithmetic (see the top of this file).
  public func conv3x3F16Arith(
    input: FeatureMapF16, weights: PackedConvWeightsF16, output: FeatureMapF16, stride: Int, epilogue: Epilogue,
    residual: FeatureMapF16? = nil, rows: Range<Int>
  ) {
    let layout = weights.layout
    let cin = layout.inputChannels
    let cout = layout.outputChannels
    let blockStride = 9 &* cin
    for oy in rows {
      let aRow = input.pixel(oy &* stride &- 1, -1)
      let outRow = output.pixel(oy, 0)
      var o0 = 0
      while o0 < cout {
        let b = weights.weights + o0 &* blockStride
        let blockResidual = residual.map { $0.channelSlice(o0) }
        var x = 0
        while x < output.width {
          let count = min(f16TilePixels, output.width &- x)
          let tileA = aRow + x &* stride &* input.pixelStride
          let tileOut = outRow + (x &* output.pixelStride &+ o0)
          // Full tiles of 8; a rest of up to 4 pixels runs the 4-pixel variant.
          if count > 4 {
            f16Tile(
              pixels: 8, count: count, a: tileA, pStride: stride &* input.pixelStride, kxStride: input.pixelStride,
              kyStride: input.rowStride, cin: cin, b: b, bias: weights.bias + o0, epilogue: epilogue,
              residual: blockResidual, residualAt: (oy, x), out: tileOut, outPStride: output.pixelStride,
              validLanes: cout &- o0)
          } else {
            f16Tile(
              pixels: 4, count: count, a: tileA, pStride: stride &* input.pixelStride, kxStride: input.pixelStride,
              kyStride: input.rowStride, cin: cin, b: b, bias: weights.bias + o0, epilogue: epilogue,
              residual: blockResidual, residualAt: (oy, x), out: tileOut, outPStride: output.pixelStride,
              validLanes: cout &- o0)
          }
          x &+= count
        }
        o0 &+= 16
      }
    }
  }

  extension FeatureMapF16 {
    /// Channels from `start` on, as a map of its own.
    @inline(__always)
    func channelSlice(_ start: Int) -> FeatureMapF16 {
      FeatureMapF16(
        base: base + start, height: height, width: width, channels: channels &- start, pixelStride: pixelStride,
        rowStride: rowStride)
    }
  }

  // MARK: - int8 dot products

  /// A channels-last map of signed 8-bit activations: the unsigned code `q = round(x / scale) +
  /// zeroPoint` (0...255, the convention of the x86 int8 kernel) stored as `q - 128` (`q ^ 0x80`),
  /// because `sdot` multiplies signed bytes. 3x3 inputs carry a one-pixel halo holding
  /// `zeroPoint - 128` (the code of 0).
  public typealias FeatureMapS8 = FeatureMapOf<Int8>

  /// Packed int8 weights of one 3x3 layer for `conv3x3Int8Dot`: per-output-channel symmetric
  /// scales (`w = q * scale`, q in -127...127), packed per block of 16 output channels as
  /// `[block][tap][cin / 4][16][4]` (one `sdot` operand = 4 channels x 4 inputs); per output channel
  /// the zero-point correction `-(zeroPoint - 128) * sum(q)`, the dequantisation factor
  /// `activationScale * weightScale`, and the fp32 bias. Output channels are padded to 16 (zero
  /// weights, scale and bias).
  public struct Int8DotWeights {
    public let inputChannels: Int
    public let outputChannels: Int
    public let weights: UnsafePointer<Int8>
    public let correction: UnsafePointer<Int32>
    public let outputScale: UnsafePointer<Float>
    public let bias: UnsafePointer<Float>

    /// Bytes of weights and entries of each per-channel array `pack` writes.
    public static func storage(inputChannels: Int, outputChannels: Int) -> (weightBytes: Int, perChannel: Int) {
      let padded = (outputChannels + 15) / 16 * 16
      return (9 * inputChannels * padded, padded)
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

    /// Quantises PyTorch `[out][in][3][3]` weights for an input with `activationScale` and
    /// `activationZeroPoint` (the unsigned code of 0). `inputChannels` must be a multiple of 4.
    public static func pack(
      weights source: UnsafePointer<Float>, bias sourceBias: UnsafePointer<Float>, inputChannels cin: Int,
      outputChannels cout: Int, activationScale: Float, activationZeroPoint: Int32,
      into weights: UnsafeMutablePointer<Int8>, correction: UnsafeMutablePointer<Int32>,
      outputScale: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>
    ) -> Int8DotWeights {
      precondition(cin % 4 == 0, "conv3x3Int8Dot needs a multiple of 4 input channels")
      let padded = storage(inputChannels: cin, outputChannels: cout).perChannel
      for o in 0..<padded {
        var largest: Float = 0
        if o < cout {
          for i in 0..<(cin * 9) { largest = max(largest, abs(source[o * cin * 9 + i])) }
        }
        let scale = largest > 0 ? largest / 127 : 1
        outputScale[o] = o < cout ? activationScale * scale : 0
        bias[o] = o < cout ? sourceBias[o] : 0
        var sum: Int32 = 0
        for tap in 0..<9 {
          for c in 0..<cin {
            var q: Int32 = 0
            if o < cout {
              q = Int32(max(-127, min(127, (source[(o * cin + c) * 9 + tap] / scale).rounded())))
            }
            sum += q
            weights[((((o / 16) * 9 + tap) * (cin / 4) + c / 4) * 16 + o % 16) * 4 + c % 4] = Int8(q)
          }
        }
        correction[o] = -(activationZeroPoint - 128) * sum
      }
      return Int8DotWeights(
        inputChannels: cin, outputChannels: cout, weights: weights, correction: correction, outputScale: outputScale,
        bias: bias)
    }
  }

  @inline(__always)
  func loadBytes16(_ p: UnsafePointer<Int8>) -> SIMD16<Int8> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Int8>.self)
  }

  /// Whether `int8Tile` reads 2 x 16 input channels per trip (half the loop overhead) or 16:
  /// without dot products a step needs more registers (paired weights, splatted inputs), and
  /// with the 8 input vectors of 2 x 16 live the accumulators spilled.
  enum ZSMInt8Products {
    #if ZSM_DOTPROD
      static let twoBlocksPerTrip = true
    #else
      static let twoBlocksPerTrip = false
    #endif
  }

  #if ZSM_DOTPROD
    /// `acc[i] + sum_k w[4i+k] * x[4*group+k]` for i in 0..<4: `sdot v.4s, w.16b, x.4b[group]`.
    @inline(__always)
    func dotLane(_ acc: SIMD4<Int32>, _ w: SIMD16<Int8>, _ x: SIMD16<Int8>, _ group: Int) -> SIMD4<Int32> {
      let words = unsafeBitCast(x, to: SIMD4<Int32>.self)
      let splat = unsafeBitCast(SIMD4<Int32>(repeating: words[group]), to: SIMD16<Int8>.self)
      return sdot(acc, w, splat)  // SDot.swift
    }
  #else
    /// 16-bit lane `lane` of `x` (2 input codes) in every 16-bit lane: `dup v.8h, v.h[lane]`.
    @inline(__always)
    func splatPair(_ x: SIMD16<Int8>, _ lane: Int) -> SIMD16<Int8> {
      let halves = unsafeBitCast(x, to: SIMD8<Int16>.self)
      return unsafeBitCast(SIMD8<Int16>(repeating: halves[lane]), to: SIMD16<Int8>.self)
    }
  #endif

  /// The 4 bytes at `p` in every 32-bit lane.
  @inline(__always)
  func splatWord(_ p: UnsafePointer<Int8>) -> SIMD16<Int8> {
    let v = UnsafeRawPointer(p).loadUnaligned(as: Int32.self)
    return unsafeBitCast(SIMD4<Int32>(repeating: v), to: SIMD16<Int8>.self)
  }

  /// Pixels per int8 tile: 4 pixels x 16 channels = 16 Int32x4 accumulators, 4 input vectors,
  /// 4 weight vectors.
  let int8TilePixels = 4

  /// Dequantise (`bias + acc * scale`, one fused multiply-add; the correction is already in
  /// `acc`), activate or add the fp32 residual (read at `res`, the same pixel and channels;
  /// it may be `dst`), store 4 fp32 lanes, or `lanes` of them. The order of operations is the
  /// x86 backends' (`Int8Epilogue.store`), so equal integers give equal floats.
  @inline(__always)
  func int8Store(
    _ acc: SIMD4<Int32>, _ scale: SIMD4<Float>, _ bias: SIMD4<Float>, _ epilogue: Epilogue,
    _ dst: UnsafeMutablePointer<Float>, _ res: UnsafePointer<Float>, lanes: Int = 4
  ) {
    var f = SIMD4<Float>()
    for k in 0..<4 { f[k] = Float(acc[k]) }  // scvtf (the generic initialiser is a call)
    var v = bias.addingProduct(f, scale)
    switch epilogue {
    case .relu: v = v.replacing(with: 0, where: v .< 0)
    case .leakyRelu: v = v.replacing(with: v * leakySlope, where: v .< 0)
    case .residual:
      if lanes >= 4 {
        v += loadFloat4(res)
      } else {
        for k in 0..<lanes { v[k] += res[k] }
      }
    case .none: break
    }
    if lanes >= 4 {
      UnsafeMutableRawPointer(dst).storeBytes(of: v, as: SIMD4<Float>.self)
    } else {
      for k in 0..<lanes { dst[k] = v[k] }
    }
  }

  @inline(__always)
  func loadInt32x4(_ p: UnsafePointer<Int32>) -> SIMD4<Int32> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Int32>.self)
  }

  @inline(__always)
  func loadFloat4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
  }

  /// One tile of up to 4 output pixels x 16 output channels (weights `b` of that block); pixels
  /// past `count` recompute pixel `count - 1` and are not stored. Where a pixel's channels are
  /// dense (`kxStride == cin`) the three taps of a kernel row are one run of 3 * Cin bytes.
  /// `res` (pixel stride `resPStride`) is the residual at the tile's first output (read only
  /// for `.residual`).
  @inline(__always)
  func int8Tile(
    count: Int, a: UnsafePointer<Int8>, pStride: Int, kxStride: Int, kyStride: Int, cin: Int,
    b: UnsafePointer<Int8>, weights: Int8DotWeights, o0: Int, epilogue: Epilogue, out: UnsafeMutablePointer<Float>,
    outPStride: Int, res: UnsafePointer<Float>, resPStride: Int, validLanes: Int
  ) {
    let last = count &- 1
    let a0 = a
    let a1 = a + min(1, last) &* pStride
    let a2 = a + min(2, last) &* pStride
    let a3 = a + min(3, last) &* pStride
    // The accumulators start at the zero-point correction.
    let k0 = loadInt32x4(weights.correction + o0)
    let k1 = loadInt32x4(weights.correction + (o0 &+ 4))
    let k2 = loadInt32x4(weights.correction + (o0 &+ 8))
    let k3 = loadInt32x4(weights.correction + (o0 &+ 12))
    var c00 = k0
    var c01 = k1
    var c02 = k2
    var c03 = k3
    var c10 = k0
    var c11 = k1
    var c12 = k2
    var c13 = k3
    var c20 = k0
    var c21 = k1
    var c22 = k2
    var c23 = k3
    var c30 = k0
    var c31 = k1
    var c32 = k2
    var c33 = k3
    var bp = b
    @inline(__always)
    func step(_ x0: SIMD16<Int8>, _ x1: SIMD16<Int8>, _ x2: SIMD16<Int8>, _ x3: SIMD16<Int8>, _ g: Int) {
      let w0 = loadBytes16(bp)
      let w1 = loadBytes16(bp + 16)
      let w2 = loadBytes16(bp + 32)
      let w3 = loadBytes16(bp + 48)
      #if ZSM_DOTPROD
        c00 = dotLane(c00, w0, x0, g)
        c01 = dotLane(c01, w1, x0, g)
        c02 = dotLane(c02, w2, x0, g)
        c03 = dotLane(c03, w3, x0, g)
        c10 = dotLane(c10, w0, x1, g)
        c11 = dotLane(c11, w1, x1, g)
        c12 = dotLane(c12, w2, x1, g)
        c13 = dotLane(c13, w3, x1, g)
        c20 = dotLane(c20, w0, x2, g)
        c21 = dotLane(c21, w1, x2, g)
        c22 = dotLane(c22, w2, x2, g)
        c23 = dotLane(c23, w3, x2, g)
        c30 = dotLane(c30, w0, x3, g)
        c31 = dotLane(c31, w1, x3, g)
        c32 = dotLane(c32, w2, x3, g)
        c33 = dotLane(c33, w3, x3, g)
      #else
        // Output channels 0-7 (a) then 8-15 (b), input channels k0, k1 (01) and k2, k3 (23) of
        // group g; each pixel's two input pairs splatted (LLVM shares the splats between the
        // halves).
        let (lo, hi) = (2 &* g, 2 &* g &+ 1)
        let (a01, a23) = pairWeights(w0, w1)
        c00 = mulPairsLow(c00, a01, splatPair(x0, lo), a23, splatPair(x0, hi))
        c01 = mulPairsHigh(c01, a01, splatPair(x0, lo), a23, splatPair(x0, hi))
        c10 = mulPairsLow(c10, a01, splatPair(x1, lo), a23, splatPair(x1, hi))
        c11 = mulPairsHigh(c11, a01, splatPair(x1, lo), a23, splatPair(x1, hi))
        c20 = mulPairsLow(c20, a01, splatPair(x2, lo), a23, splatPair(x2, hi))
        c21 = mulPairsHigh(c21, a01, splatPair(x2, lo), a23, splatPair(x2, hi))
        c30 = mulPairsLow(c30, a01, splatPair(x3, lo), a23, splatPair(x3, hi))
        c31 = mulPairsHigh(c31, a01, splatPair(x3, lo), a23, splatPair(x3, hi))
        let (b01, b23) = pairWeights(w2, w3)
        c02 = mulPairsLow(c02, b01, splatPair(x0, lo), b23, splatPair(x0, hi))
        c03 = mulPairsHigh(c03, b01, splatPair(x0, lo), b23, splatPair(x0, hi))
        c12 = mulPairsLow(c12, b01, splatPair(x1, lo), b23, splatPair(x1, hi))
        c13 = mulPairsHigh(c13, b01, splatPair(x1, lo), b23, splatPair(x1, hi))
        c22 = mulPairsLow(c22, b01, splatPair(x2, lo), b23, splatPair(x2, hi))
        c23 = mulPairsHigh(c23, b01, splatPair(x2, lo), b23, splatPair(x2, hi))
        c32 = mulPairsLow(c32, b01, splatPair(x3, lo), b23, splatPair(x3, hi))
        c33 = mulPairsHigh(c33, b01, splatPair(x3, lo), b23, splatPair(x3, hi))
      #endif
      bp += 64
    }
    // No nested function calls `step` (a nested function calling another that captures the
    // accumulators made Swift 6.2 enforce exclusivity dynamically: swift_beginAccess calls and
    // the accumulators in memory in the loop), so the 16-channel steps are written out.
    let dense = kxStride == cin
    let runs = dense ? 1 : 3
    let runLength = dense ? 3 &* cin : cin
    for ky in 0..<3 {
      for run in 0..<runs {
        let off = ky &* kyStride &+ run &* kxStride
        var ic = 0
        while ZSMInt8Products.twoBlocksPerTrip && ic &+ 32 <= runLength {
          let at = off &+ ic
          let x0 = loadBytes16(a0 + at)
          let x1 = loadBytes16(a1 + at)
          let x2 = loadBytes16(a2 + at)
          let x3 = loadBytes16(a3 + at)
          step(x0, x1, x2, x3, 0)
          step(x0, x1, x2, x3, 1)
          step(x0, x1, x2, x3, 2)
          step(x0, x1, x2, x3, 3)
          let y0 = loadBytes16(a0 + (at &+ 16))
          let y1 = loadBytes16(a1 + (at &+ 16))
          let y2 = loadBytes16(a2 + (at &+ 16))
          let y3 = loadBytes16(a3 + (at &+ 16))
          step(y0, y1, y2, y3, 0)
          step(y0, y1, y2, y3, 1)
          step(y0, y1, y2, y3, 2)
          step(y0, y1, y2, y3, 3)
          ic &+= 32
        }
        while ic &+ 16 <= runLength {  // 16 input channels of every pixel
          let at = off &+ ic
          let x0 = loadBytes16(a0 + at)
          let x1 = loadBytes16(a1 + at)
          let x2 = loadBytes16(a2 + at)
          let x3 = loadBytes16(a3 + at)
          step(x0, x1, x2, x3, 0)
          step(x0, x1, x2, x3, 1)
          step(x0, x1, x2, x3, 2)
          step(x0, x1, x2, x3, 3)
          ic &+= 16
        }
        while ic < runLength {  // groups of 4 channels past the last multiple of 16
          let at = off &+ ic
          step(splatWord(a0 + at), splatWord(a1 + at), splatWord(a2 + at), splatWord(a3 + at), 0)
          ic &+= 4
        }
      }
    }
    let scale = weights.outputScale + o0
    let bias = weights.bias + o0
    let m0 = loadFloat4(scale)
    let m1 = loadFloat4(scale + 4)
    let m2 = loadFloat4(scale + 8)
    let m3 = loadFloat4(scale + 12)
    let b0 = loadFloat4(bias)
    let b1 = loadFloat4(bias + 4)
    let b2 = loadFloat4(bias + 8)
    let b3 = loadFloat4(bias + 12)
    let o1 = out + outPStride
    let o2 = out + 2 &* outPStride
    let o3 = out + 3 &* outPStride
    let r1 = res + resPStride
    let r2 = res + 2 &* resPStride
    let r3 = res + 3 &* resPStride
    if count == 4 && validLanes >= 16 {
      int8Store(c00, m0, b0, epilogue, out, res)
      int8Store(c01, m1, b1, epilogue, out + 4, res + 4)
      int8Store(c02, m2, b2, epilogue, out + 8, res + 8)
      int8Store(c03, m3, b3, epilogue, out + 12, res + 12)
      int8Store(c10, m0, b0, epilogue, o1, r1)
      int8Store(c11, m1, b1, epilogue, o1 + 4, r1 + 4)
      int8Store(c12, m2, b2, epilogue, o1 + 8, r1 + 8)
      int8Store(c13, m3, b3, epilogue, o1 + 12, r1 + 12)
      int8Store(c20, m0, b0, epilogue, o2, r2)
      int8Store(c21, m1, b1, epilogue, o2 + 4, r2 + 4)
      int8Store(c22, m2, b2, epilogue, o2 + 8, r2 + 8)
      int8Store(c23, m3, b3, epilogue, o2 + 12, r2 + 12)
      int8Store(c30, m0, b0, epilogue, o3, r3)
      int8Store(c31, m1, b1, epilogue, o3 + 4, r3 + 4)
      int8Store(c32, m2, b2, epilogue, o3 + 8, r3 + 8)
      int8Store(c33, m3, b3, epilogue, o3 + 12, r3 + 12)
      return
    }
    // A partial tile or a partial channel block: only `count` pixels, `validLanes` channels.
    @inline(__always)
    func store(_ c: SIMD4<Int32>, _ m: SIMD4<Float>, _ bb: SIMD4<Float>, _ pixel: Int, _ quad: Int) {
      let lanes = validLanes &- 4 &* quad
      if pixel < count && lanes > 0 {
        int8Store(
          c, m, bb, epilogue, out + (pixel &* outPStride &+ 4 &* quad), res + (pixel &* resPStride &+ 4 &* quad),
          lanes: lanes)
      }
    }
    store(c00, m0, b0, 0, 0)
    store(c01, m1, b1, 0, 1)
    store(c02, m2, b2, 0, 2)
    store(c03, m3, b3, 0, 3)
    store(c10, m0, b0, 1, 0)
    store(c11, m1, b1, 1, 1)
    store(c12, m2, b2, 1, 2)
    store(c13, m3, b3, 1, 3)
    store(c20, m0, b0, 2, 0)
    store(c21, m1, b1, 2, 1)
    store(c22, m2, b2, 2, 2)
    store(c23, m3, b3, 2, 3)
    store(c30, m0, b0, 3, 0)
    store(c31, m1, b1, 3, 1)
    store(c32, m2, b2, 3, 2)
    store(c33, m3, b3, 3, 3)
  }

  /// int8 3x3 convolution, pad 1, stride 1 or 2, output rows `rows`: `sdot` products of s8
  /// activations (`FeatureMapS8`, halo holding the code of 0) and s8 weights (`Int8DotWeights`)
  /// accumulated in Int32, then per output channel `bias + (acc + correction) * scale` in fp32
  /// with a fused ReLU, LeakyReLU or residual add (`residual`, read at the same pixel and
  /// channel; it may be `output`). Exact integer arithmetic: the output equals that formula
  /// evaluated on the exact integer sum (|acc| < 2^31: 9 * Cin * 128 * 127 fits for Cin < 14,000).
  public func conv3x3Int8Dot(
    input: FeatureMapS8, weights: Int8DotWeights, output: FeatureMap, stride: Int, epilogue: Epilogue,
    residual: FeatureMap? = nil, rows: Range<Int>
  ) {
    precondition(epilogue != .residual || residual != nil, "conv3x3Int8Dot: a residual epilogue needs the residual")
    let res = residual ?? output
    let cin = weights.inputChannels
    let cout = weights.outputChannels
    let blockBytes = 9 &* cin &* 16
    for oy in rows {
      let aRow = UnsafePointer(input.pixel(oy &* stride &- 1, -1))
      let outRow = output.pixel(oy, 0)
      let resRow = UnsafePointer(res.pixel(oy, 0))
      var o0 = 0
      while o0 < cout {
        let b = weights.weights + (o0 / 16) &* blockBytes
        var x = 0
        while x < output.width {
          let count = min(int8TilePixels, output.width &- x)
          int8Tile(
            count: count, a: aRow + x &* stride &* input.pixelStride, pStride: stride &* input.pixelStride,
            kxStride: input.pixelStride, kyStride: input.rowStride, cin: cin, b: b, weights: weights, o0: o0,
            epilogue: epilogue, out: outRow + (x &* output.pixelStride &+ o0), outPStride: output.pixelStride,
            res: resRow + (x &* res.pixelStride &+ o0), resPStride: res.pixelStride, validLanes: cout &- o0)
          x &+= count
        }
        o0 &+= 16
      }
    }
  }
#endif
