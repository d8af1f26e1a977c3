// Reduced-precision 3x3 convolution for ARM (issue 7): fp16 arithmetic (`fmla v.8h`, by element).
// It exists only on arm64 and compiles for every arm64 CPU, but it is fast only where the CPU has
// ARMv8.2 FP16 (`-Xcc -march=armv8.2-a+fp16`); without it LLVM scalarises every
// `SIMD8<Float16>` FMA (correct, about 15x slower: use `conv3x3F16`, fp16 storage with fp32
// arithmetic, on such CPUs). The int8 products (`sdot`, or `smull`/`smlal`/`sadalp`) are
// ZSMKernelsInt8's (ARMDot.swift), since they come from C and this module imports nothing.
// Tests/ARM64/run.sh checks the kernel against a scalar reference under qemu and counts the
// executed instructions per output element against the fp32 `conv3x3`.
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
  func widenHalf8(_ h: SIMD8<Float16>) -> SIMD8<Float> {
    var f = SIMD8<Float>()
    for k in 0..<8 { f[k] = Float(h[k]) }
    return f
  }

  /// Pixel slots of the fp16 tile: 8 pixels x 8 channels = 8 fp16 accumulators, 8 input vectors
  /// (which must sit in v0-v15 for `fmla v.h[i]`), the weight vectors of one input vector's 8
  /// lanes: 24 of the 32 registers in whichever order the compiler schedules the products.
  /// (A 16-channel tile needs 16 accumulators, and Swift 6.2.3's aarch64 build hoisted the
  /// 16 weight vectors of a step out of the pixel loop: 33 live registers, spilled on every
  /// step.)
  let f16TilePixels = 8

  /// One tile of `pixels` (a constant after inlining: 8 or 4) output pixels x 8 output channels
  /// (half `half` of the 16-channel weight block `b`), of which the first `count` pixels are
  /// stored (the others recompute pixel `count - 1`) and the first `validLanes` channels. Each
  /// kernel row (3 taps x Cin products) is accumulated in fp16 with fused multiply-adds, then
  /// widened and added into fp32 sums: no fp16 sum runs longer than 3 * Cin terms. Where a
  /// pixel's channels are dense (`kxStride == cin`) the three taps of a kernel row are one run
  /// of 3 * Cin halves.
  @inline(__always)
  func f16Tile(
    pixels: Int, count: Int, a: UnsafePointer<Float16>, pStride: Int, kxStride: Int, kyStride: Int, cin: Int,
    b: UnsafePointer<Float16>, half: Int, bias: UnsafePointer<Float>, epilogue: Epilogue, residual: FeatureMapF16?,
    residualAt: (y: Int, x: Int), out: UnsafeMutableRawPointer, outFloat32: Bool, outPStride: Int,
    validLanes: Int
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
    var s0 = SIMD8<Float>()
    var s1 = SIMD8<Float>()
    var s2 = SIMD8<Float>()
    var s3 = SIMD8<Float>()
    var s4 = SIMD8<Float>()
    var s5 = SIMD8<Float>()
    var s6 = SIMD8<Float>()
    var s7 = SIMD8<Float>()
    var bp = b + 8 &* half
    for ky in 0..<3 {
      var c0 = SIMD8<Float16>()
      var c1 = SIMD8<Float16>()
      var c2 = SIMD8<Float16>()
      var c3 = SIMD8<Float16>()
      var c4 = SIMD8<Float16>()
      var c5 = SIMD8<Float16>()
      var c6 = SIMD8<Float16>()
      var c7 = SIMD8<Float16>()
      // One input channel for every pixel: x_p holds it in lane `j` (or everywhere, j 0).
      @inline(__always)
      func step(
        _ x0: SIMD8<Float16>, _ x1: SIMD8<Float16>, _ x2: SIMD8<Float16>, _ x3: SIMD8<Float16>, _ x4: SIMD8<Float16>,
        _ x5: SIMD8<Float16>, _ x6: SIMD8<Float16>, _ x7: SIMD8<Float16>, _ j: Int
      ) {
        let w = loadHalf8(bp)
        c0 = fmaLane(c0, w, x0, j)
        c1 = fmaLane(c1, w, x1, j)
        c2 = fmaLane(c2, w, x2, j)
        c3 = fmaLane(c3, w, x3, j)
        if pixels > 4 {
          c4 = fmaLane(c4, w, x4, j)
          c5 = fmaLane(c5, w, x5, j)
          c6 = fmaLane(c6, w, x6, j)
          c7 = fmaLane(c7, w, x7, j)
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
      s0 += widenHalf8(c0)
      s1 += widenHalf8(c1)
      s2 += widenHalf8(c2)
      s3 += widenHalf8(c3)
      if pixels > 4 {
        s4 += widenHalf8(c4)
        s5 += widenHalf8(c5)
        s6 += widenHalf8(c6)
        s7 += widenHalf8(c7)
      }
    }
    let biasV = UnsafeRawPointer(bias + 8 &* half).loadUnaligned(as: SIMD8<Float>.self)
    let lanes = min(validLanes, 8)
    f16Finish(s0 + biasV, 0, count, epilogue, residual, residualAt, out, outFloat32, outPStride, lanes)
    f16Finish(s1 + biasV, 1, count, epilogue, residual, residualAt, out, outFloat32, outPStride, lanes)
    f16Finish(s2 + biasV, 2, count, epilogue, residual, residualAt, out, outFloat32, outPStride, lanes)
    f16Finish(s3 + biasV, 3, count, epilogue, residual, residualAt, out, outFloat32, outPStride, lanes)
    if pixels > 4 {
      f16Finish(s4 + biasV, 4, count, epilogue, residual, residualAt, out, outFloat32, outPStride, lanes)
      f16Finish(s5 + biasV, 5, count, epilogue, residual, residualAt, out, outFloat32, outPStride, lanes)
      f16Finish(s6 + biasV, 6, count, epilogue, residual, residualAt, out, outFloat32, outPStride, lanes)
      f16Finish(s7 + biasV, 7, count, epilogue, residual, residualAt, out, outFloat32, outPStride, lanes)
    }
  }

  /// Activation (or residual) on fp32 `conv + bias` of 8 channels, stored to `out`: rounded to
  /// fp16, or as fp32 where `outFloat32` (the deformable convolutions' offsets and mask).
  @inline(__always)
  func f16Finish(
    _ sum: SIMD8<Float>, _ pixel: Int, _ count: Int, _ epilogue: Epilogue, _ residual: FeatureMapF16?,
    _ residualAt: (y: Int, x: Int), _ out: UnsafeMutableRawPointer, _ outFloat32: Bool, _ outPStride: Int,
    _ lanes: Int
  ) {
    if pixel >= count { return }
    var v = sum
    let zero = SIMD8<Float>()  // compared as a vector: 6.2.3 builds a comparison with a scalar lane by lane
    switch epilogue {
    case .none: break
    case .relu: v = v.replacing(with: zero, where: v .< zero)
    case .leakyRelu: v = v.replacing(with: v * leakySlope, where: v .< zero)
    case .residual:
      if let residual {
        let r = residual.pixel(residualAt.y, residualAt.x &+ pixel)
        if lanes == 8 {  // fcvtl, fcvtl2 (a lane loop here went through the stack)
          v += widenHalf8(loadHalf8(UnsafePointer(r)))
        } else {
          for k in 0..<lanes { v[k] += Float(r[k]) }
        }
      }
    }
    if outFloat32 {
      let dst = out.assumingMemoryBound(to: Float.self) + pixel &* outPStride
      if lanes == 8 {
        storeVector8(v, dst)
      } else {
        for k in 0..<lanes { dst[k] = v[k] }
      }
      return
    }
    var h = SIMD8<Float16>()
    for k in 0..<8 { h[k] = Float16(v[k]) }  // fcvtn, fcvtn2 (the generic initialiser is a call)
    let dst = out.assumingMemoryBound(to: Float16.self) + pixel &* outPStride
    if lanes == 8 {
      UnsafeMutableRawPointer(dst).storeBytes(of: h, as: SIMD8<Float16>.self)
    } else {
      for k in 0..<lanes { dst[k] = h[k] }
    }
  }

  /// 3x3 convolution (pad 1, stride 1 or 2) with Float16 input, weights and output and fp16
  /// arithmetic: fused multiply-adds in fp16 (`fmla v.8h` by element, tiles of 8 pixels x 8
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
    f16ArithRows(
      input: input, weights: weights, out: UnsafeMutableRawPointer(output.base), outFloat32: false,
      outWidth: output.width, outPixelStride: output.pixelStride,
      outRowStride: output.rowStride, stride: stride, epilogue: epilogue, residual: residual, rows: rows)
  }

  /// `conv3x3F16Arith` writing fp32: the same fp16 products and fp32 row sums, the result not
  /// rounded to fp16 (the deformable convolutions' offsets and mask, which stay fp32 maps: they
  /// are sampling positions). No residual.
  public func conv3x3F16Arith(
    input: FeatureMapF16, weights: PackedConvWeightsF16, output: FeatureMap, stride: Int, epilogue: Epilogue,
    rows: Range<Int>
  ) {
    f16ArithRows(
      input: input, weights: weights, out: UnsafeMutableRawPointer(output.base), outFloat32: true,
      outWidth: output.width, outPixelStride: output.pixelStride,
      outRowStride: output.rowStride, stride: stride, epilogue: epilogue, residual: nil, rows: rows)
  }

  /// The rows of either `conv3x3F16Arith`: output `out` holds fp16 or (`outFloat32`) fp32
  /// values, strides in values. Inlined into both, so each holds its tile loop.
  @inline(__always)
  func f16ArithRows(
    input: FeatureMapF16, weights: PackedConvWeightsF16, out: UnsafeMutableRawPointer, outFloat32: Bool,
    outWidth: Int, outPixelStride: Int, outRowStride: Int, stride: Int, epilogue: Epilogue,
    residual: FeatureMapF16?, rows: Range<Int>
  ) {
    let layout = weights.layout
    let cin = layout.inputChannels
    let cout = layout.outputChannels
    let blockStride = 9 &* cin
    let outBytes = outFloat32 ? 4 : 2
    for oy in rows {
      let aRow = input.pixel(oy &* stride &- 1, -1)
      let outRow = out + oy &* outRowStride &* outBytes
      var o0 = 0
      // 8 output channels at a time (half a weight block); none past the last channel.
      while o0 < cout {
        let b = weights.weights + (o0 >> 4) &* 16 &* blockStride
        let half = (o0 >> 3) & 1
        let blockResidual = residual.map { $0.channelSlice(o0) }
        var x = 0
        while x < outWidth {
          let count = min(f16TilePixels, outWidth &- x)
          let tileA = aRow + x &* stride &* input.pixelStride
          let tileOut = outRow + (x &* outPixelStride &+ o0) &* outBytes
          // Full tiles of 8; a rest of up to 4 pixels runs the 4-pixel variant.
          if count > 4 {
            f16Tile(
              pixels: 8, count: count, a: tileA, pStride: stride &* input.pixelStride, kxStride: input.pixelStride,
              kyStride: input.rowStride, cin: cin, b: b, half: half, bias: weights.bias + (o0 & ~15),
              epilogue: epilogue, residual: blockResidual, residualAt: (oy, x), out: tileOut, outFloat32: outFloat32,
              outPStride: outPixelStride, validLanes: cout &- o0)
          } else {
            f16Tile(
              pixels: 4, count: count, a: tileA, pStride: stride &* input.pixelStride, kxStride: input.pixelStride,
              kyStride: input.rowStride, cin: cin, b: b, half: half, bias: weights.bias + (o0 & ~15),
              epilogue: epilogue, residual: blockResidual, residualAt: (oy, x), out: tileOut, outFloat32: outFloat32,
              outPStride: outPixelStride, validLanes: cout &- o0)
          }
          x &+= count
        }
        o0 &+= 8
      }
    }
  }

  /// One tile row of the deformable convolution in fp16 arithmetic: `count` pixels of fp16
  /// columns (`[pixel][tap][channel]`, 9 x `cin` halves a pixel: each kernel row one dense run)
  /// times `weights`, into `out` (fp16, or fp32 where `outFloat32`; `outPStride` values a pixel).
  @inline(__always)
  func f16ColumnTiles(
    count: Int, columns: UnsafePointer<Float16>, cin: Int, weights: PackedConvWeightsF16, epilogue: Epilogue,
    out: UnsafeMutableRawPointer, outFloat32: Bool, outPStride: Int
  ) {
    let cout = weights.layout.outputChannels
    let pStride = 9 &* cin
    let outBytes = outFloat32 ? 4 : 2
    var o0 = 0
    while o0 < cout {  // 8 output channels at a time, as in `f16ArithRows`
      let b = weights.weights + (o0 >> 4) &* 16 &* pStride
      let half = (o0 >> 3) & 1
      var x = 0
      while x < count {
        let n = min(f16TilePixels, count &- x)
        let a = columns + x &* pStride
        let dst = out + (x &* outPStride &+ o0) &* outBytes
        if n > 4 {
          f16Tile(
            pixels: 8, count: n, a: a, pStride: pStride, kxStride: cin, kyStride: 3 &* cin, cin: cin, b: b,
            half: half, bias: weights.bias + (o0 & ~15), epilogue: epilogue, residual: nil, residualAt: (0, 0),
            out: dst, outFloat32: outFloat32, outPStride: outPStride, validLanes: cout &- o0)
        } else {
          f16Tile(
            pixels: 4, count: n, a: a, pStride: pStride, kxStride: cin, kyStride: 3 &* cin, cin: cin, b: b,
            half: half, bias: weights.bias + (o0 & ~15), epilogue: epilogue, residual: nil, residualAt: (0, 0),
            out: dst, outFloat32: outFloat32, outPStride: outPStride, validLanes: cout &- o0)
        }
        x &+= n
      }
      o0 &+= 8
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
#endif
