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
        if lanes == 16 {  // fcvtl, fcvtl2 (a lane loop here went through the stack)
          v += widenHalves(loadHalf8(UnsafePointer(r)), loadHalf8(UnsafePointer(r + 8)))
        } else {
          for k in 0..<lanes { v[k] += Float(r[k]) }
        }
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
#endif
