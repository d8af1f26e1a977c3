// The aarch64 int8 3x3 convolution `conv3x3Int8Dot` (issue 7), the backend ARM.swift drives:
// tiles of 4 pixels x 16 output channels of `sdot v.4s, v.16b, v.4b[i]` products when the module
// is compiled with `-D ZSM_DOTPROD -Xcc -march=armv8.2-a+dotprod` (Package.swift does for a board
// whose `build.march` has `+dotprod`); otherwise (ARMv8.0) widening multiplies: per 4 input
// channels, `uzp1`/`uzp2` pair the weights' input channels, `dup .8h` splats an input pair, and
// `smull`, `smlal`, `sadalp` accumulate 32 products in 3 instructions, the same integers. SDot.swift
// imports both from C (CZSMNeon's header, inlined): LLVM forms `sdot` from a plain scalar
// dot-product loop but not from the lane loops a register-blocked tile needs, and the 16-bit lane
// arithmetic that Swift SIMD can write took about 10 instructions per 16 products.
//
// It lives here, not in ZSMKernels, because ZSMKernels imports nothing (the runtime's layer
// rule); it uses ZSMKernels' public feature maps and epilogue only. Tests/ARM64/run.sh compiles
// this file and SDot.swift with ZSMKernels as one Embedded Swift module (the `import` below is
// then its own module, ignored) and checks the kernel against a scalar reference under qemu, and
// counts its instructions per output element against the fp32 `conv3x3`.
#if arch(arm64)
  import ZSMKernels

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
    case .relu: v = v.replacing(with: 0, where: v .< SIMD4<Float>())
    case .leakyRelu: v = v.replacing(with: v * leakySlope, where: v .< SIMD4<Float>())
    case .residual:
      if lanes >= 4 {
        v += loadVector4(res)
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
    let m0 = loadVector4(scale)
    let m1 = loadVector4(scale + 4)
    let m2 = loadVector4(scale + 8)
    let m3 = loadVector4(scale + 12)
    let b0 = loadVector4(bias)
    let b1 = loadVector4(bias + 4)
    let b2 = loadVector4(bias + 8)
    let b3 = loadVector4(bias + 12)
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
  /// Not inlined into the driver, so Tests/ARM64/package.sh finds the network's loop under this
  /// symbol.
  @inline(never)
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
