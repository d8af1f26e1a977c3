/// 3x3 stride-1 convolution with exactly 3 output channels (the network's `conv_last`: the
/// picture), vectorised over input channels instead of output channels.
///
/// The register-blocked micro-kernels hold 16 output channels per vector: with 3 of them, 13 of
/// every 16 lanes multiply padding, so `conv_last` cost as much as the 16-wide `HRconv` before
/// it (at ZSM-Lite's tail width; a sixth of the tail). Here each accumulator is one (pixel,
/// output channel) over 16 input channels, and a horizontal sum per output value ends it:
/// 27 multiply-adds of 16 lanes per pixel and 16 input channels (instead of 144), for 4 pixels
/// at a time (12 accumulators, 6 input vectors of a kernel row shared by the 3 column taps,
/// 9 weight vectors; on AVX2, 2 pixels and 6 accumulators; on NEON, 4 pixels of 4-lane
/// accumulators over 4 input channels at a time). Needs a multiple of 16 input channels and the
/// input's 1-pixel halo.
public enum NarrowOutputConv {
  public static let outputChannels = 3

  /// Floats of `pack`'s output for `inputChannels`: `[tap][output channel][input channel]`.
  public static func weightCount(inputChannels: Int) -> Int { 9 * outputChannels * inputChannels }

  /// Whether a layer of this shape runs here.
  public static func eligible(kernelSize: Int, stride: Int, inputChannels: Int, outputChannels: Int) -> Bool {
    kernelSize == 3 && stride == 1 && outputChannels == Self.outputChannels && inputChannels % 16 == 0
      && inputChannels > 0
  }

  /// Repacks PyTorch `[3][cin][3][3]` weights as `[tap][output channel][input channel]`.
  public static func pack(weights: UnsafePointer<Float>, inputChannels cin: Int, into out: UnsafeMutablePointer<Float>)
  {
    for tap in 0..<9 {
      for co in 0..<outputChannels {
        for ci in 0..<cin {
          out[(tap &* outputChannels &+ co) &* cin &+ ci] = weights[(co &* cin &+ ci) &* 9 &+ tap]
        }
      }
    }
  }
}

#if arch(arm64)
  /// `conv3x3NarrowOutput` between an fp16 map and fp32 outputs in fp16 arithmetic (ARMv8.2
  /// FP16): 4 pixels x 3 output channels of 8-lane fp16 accumulators over 8 input channels at a
  /// time (`fmla v.8h`, 21 of the 32 registers), each accumulator widened to fp32 and summed
  /// across its lanes at the end, then bias and activation in fp32. `weights` are
  /// `NarrowOutputConv.pack`'s layout in fp16. A lane sums 9 x Cin / 8 products in fp16 (18 at
  /// ZSM-Lite's tail width 16, 72 at the released 64). Fast only on CPUs with fp16 arithmetic.
  public func conv3x3NarrowOutputF16Arith(
    input: FeatureMapF16, weights: UnsafePointer<Float16>, bias: UnsafePointer<Float>, output: FeatureMap,
    epilogue: Epilogue, rows: Range<Int>
  ) {
    let cin = input.channels
    let ps = input.pixelStride
    let tapStride = 3 &* cin
    @inline(__always)
    func load(_ p: UnsafePointer<Float16>) -> SIMD8<Float16> {
      UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float16>.self)
    }
    @inline(__always)
    func total(_ v: SIMD8<Float16>) -> Float {
      var f = SIMD8<Float>()
      for k in 0..<8 { f[k] = Float(v[k]) }  // fcvtl, fcvtl2
      return horizontalSum4(f.lowHalf + f.highHalf)
    }
    @inline(__always)
    func finish(_ s: Float, _ co: Int, _ dst: UnsafeMutablePointer<Float>) {
      var v = s + bias[co]
      switch epilogue {
      case .relu: v = v < 0 ? 0 : v
      case .leakyRelu: v = leakyRelu(v)
      case .none, .residual: break
      }
      dst[co] = v
    }
    for oy in rows {
      var x = 0
      while x &+ 4 <= output.width {
        var a00 = SIMD8<Float16>()
        var a01 = SIMD8<Float16>()
        var a02 = SIMD8<Float16>()
        var a10 = SIMD8<Float16>()
        var a11 = SIMD8<Float16>()
        var a12 = SIMD8<Float16>()
        var a20 = SIMD8<Float16>()
        var a21 = SIMD8<Float16>()
        var a22 = SIMD8<Float16>()
        var a30 = SIMD8<Float16>()
        var a31 = SIMD8<Float16>()
        var a32 = SIMD8<Float16>()
        var c = 0
        while c < cin {
          for ky in 0..<3 {
            // Input pixels x-1 ..< x+5 of row oy+ky-1, channels c ..< c+8.
            let row = UnsafePointer(input.base + ((oy &+ ky &- 1) &* input.rowStride &+ (x &- 1) &* ps &+ c))
            let v0 = load(row)
            let v1 = load(row + ps)
            let v2 = load(row + 2 &* ps)
            let v3 = load(row + 3 &* ps)
            let v4 = load(row + 4 &* ps)
            let v5 = load(row + 5 &* ps)
            let w = weights + (3 &* ky &* tapStride &+ c)
            for kx in 0..<3 {
              let wk = w + kx &* tapStride
              let w0 = load(wk)
              let w1 = load(wk + cin)
              let w2 = load(wk + 2 &* cin)
              let (p0, p1, p2, p3) =
                kx == 0 ? (v0, v1, v2, v3) : kx == 1 ? (v1, v2, v3, v4) : (v2, v3, v4, v5)
              a00 = a00.addingProduct(p0, w0)
              a01 = a01.addingProduct(p0, w1)
              a02 = a02.addingProduct(p0, w2)
              a10 = a10.addingProduct(p1, w0)
              a11 = a11.addingProduct(p1, w1)
              a12 = a12.addingProduct(p1, w2)
              a20 = a20.addingProduct(p2, w0)
              a21 = a21.addingProduct(p2, w1)
              a22 = a22.addingProduct(p2, w2)
              a30 = a30.addingProduct(p3, w0)
              a31 = a31.addingProduct(p3, w1)
              a32 = a32.addingProduct(p3, w2)
            }
          }
          c &+= 8
        }
        let d0 = output.pixel(oy, x)
        let d1 = d0 + output.pixelStride
        let d2 = d1 + output.pixelStride
        let d3 = d2 + output.pixelStride
        finish(total(a00), 0, d0)
        finish(total(a01), 1, d0)
        finish(total(a02), 2, d0)
        finish(total(a10), 0, d1)
        finish(total(a11), 1, d1)
        finish(total(a12), 2, d1)
        finish(total(a20), 0, d2)
        finish(total(a21), 1, d2)
        finish(total(a22), 2, d2)
        finish(total(a30), 0, d3)
        finish(total(a31), 1, d3)
        finish(total(a32), 2, d3)
        x &+= 4
      }
      // The last pixels (fewer than 4), one at a time.
      while x < output.width {
        var a0 = SIMD8<Float16>()
        var a1 = SIMD8<Float16>()
        var a2 = SIMD8<Float16>()
        var c = 0
        while c < cin {
          for tap in 0..<9 {
            let p = load(
              UnsafePointer(input.base + ((oy &+ tap / 3 &- 1) &* input.rowStride &+ (x &+ tap % 3 &- 1) &* ps &+ c)))
            let w = weights + (tap &* tapStride &+ c)
            a0 = a0.addingProduct(p, load(w))
            a1 = a1.addingProduct(p, load(w + cin))
            a2 = a2.addingProduct(p, load(w + 2 &* cin))
          }
          c &+= 8
        }
        let d = output.pixel(oy, x)
        finish(total(a0), 0, d)
        finish(total(a1), 1, d)
        finish(total(a2), 2, d)
        x &+= 1
      }
    }
  }
#endif

/// The sum of the 16 lanes (halves added: 4 vector adds, then 2 scalar).
@inline(__always)
func horizontalSum(_ v: SIMD16<Float>) -> Float {
  let a = v.lowHalf + v.highHalf
  let b = a.lowHalf + a.highHalf
  let c = b.lowHalf + b.highHalf
  return c[0] + c[1]
}

/// The sum of the 4 lanes (faddp).
@inline(__always)
func horizontalSum4(_ v: SIMD4<Float>) -> Float {
  let a = v.lowHalf + v.highHalf
  return a[0] + a[1]
}

/// Output rows `rows` of a 3x3 stride-1 convolution with 3 output channels (see
/// `NarrowOutputConv`): `weights` as `NarrowOutputConv.pack` lays them out, `bias` 3 floats,
/// epilogue `.none`, `.relu` or `.leakyRelu` (no residual). `input` needs its 1-pixel halo.
public func conv3x3NarrowOutput(
  input: FeatureMap, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, output: FeatureMap,
  epilogue: Epilogue, rows: Range<Int>
) {
  narrowOutputRows(input: input, weights: weights, bias: bias, output: output, epilogue: epilogue, rows: rows)
}

/// `conv3x3NarrowOutput` on an fp16 input map (the 4x tail's fp16 band with `--precision
/// fp16`): each input vector widened as it is loaded, the arithmetic in fp32.
public func conv3x3NarrowOutput(
  input: FeatureMapF16, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, output: FeatureMap,
  epilogue: Epilogue, rows: Range<Int>
) {
  narrowOutputRows(input: input, weights: weights, bias: bias, output: output, epilogue: epilogue, rows: rows)
}

// Inlined into both entry points, each a loop of its own input type.
@inline(__always)
func narrowOutputRows<I: MapElement>(
  input: FeatureMapOf<I>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, output: FeatureMap,
  epilogue: Epilogue, rows: Range<Int>
) {
  let cin = input.channels
  let ps = input.pixelStride
  let tapStride = 3 &* cin
  @inline(__always)
  func finish(_ s: Float, _ co: Int, _ dst: UnsafeMutablePointer<Float>) {
    var v = s + bias[co]
    switch epilogue {
    case .relu: v = v < 0 ? 0 : v
    case .leakyRelu: v = leakyRelu(v)
    case .none, .residual: break
    }
    dst[co] = v
  }
  for oy in rows {
    var x = 0
    #if arch(x86_64) && !ZSM_AVX512
      // AVX2 (16 ymm registers): 2 pixels at a time, 6 accumulators in 12 ymm registers, the
      // inputs reloaded per column tap and the weights read as FMA memory operands. The
      // 4-pixel step of AVX-512 keeps 24 ymm registers of accumulators and spilled on every step.
      while x &+ 2 <= output.width {
        var a00 = SIMD16<Float>()
        var a01 = SIMD16<Float>()
        var a02 = SIMD16<Float>()
        var a10 = SIMD16<Float>()
        var a11 = SIMD16<Float>()
        var a12 = SIMD16<Float>()
        var block = 0
        while block < cin {
          for ky in 0..<3 {
            let row = UnsafePointer(input.base + ((oy &+ ky &- 1) &* input.rowStride &+ (x &- 1) &* ps &+ block))
            let w = weights + (3 &* ky &* tapStride &+ block)
            for kx in 0..<3 {
              let p0 = I.load16(row + kx &* ps)
              let p1 = I.load16(row + (kx &+ 1) &* ps)
              let wk = w + kx &* tapStride
              a00 = a00.addingProduct(p0, loadVector(wk))
              a10 = a10.addingProduct(p1, loadVector(wk))
              a01 = a01.addingProduct(p0, loadVector(wk + cin))
              a11 = a11.addingProduct(p1, loadVector(wk + cin))
              a02 = a02.addingProduct(p0, loadVector(wk + 2 &* cin))
              a12 = a12.addingProduct(p1, loadVector(wk + 2 &* cin))
            }
          }
          block &+= 16
        }
        let d0 = output.pixel(oy, x)
        let d1 = d0 + output.pixelStride
        finish(horizontalSum(a00), 0, d0)
        finish(horizontalSum(a01), 1, d0)
        finish(horizontalSum(a02), 2, d0)
        finish(horizontalSum(a10), 0, d1)
        finish(horizontalSum(a11), 1, d1)
        finish(horizontalSum(a12), 2, d1)
        x &+= 2
      }
    #elseif arch(arm64)
      // NEON (32 q registers, no memory operands): 4 pixels x 3 output channels of 4-lane
      // accumulators (12 q registers), 4 input channels at a time: 6 input and 3 weight vectors
      // per kernel row and column tap, 21 registers in all. The 16-lane step (AVX-512's) keeps
      // 48 q registers of accumulators and spilled on every multiply-add.
      while x &+ 4 <= output.width {
        var a00 = SIMD4<Float>()
        var a01 = SIMD4<Float>()
        var a02 = SIMD4<Float>()
        var a10 = SIMD4<Float>()
        var a11 = SIMD4<Float>()
        var a12 = SIMD4<Float>()
        var a20 = SIMD4<Float>()
        var a21 = SIMD4<Float>()
        var a22 = SIMD4<Float>()
        var a30 = SIMD4<Float>()
        var a31 = SIMD4<Float>()
        var a32 = SIMD4<Float>()
        var c = 0
        while c < cin {
          for ky in 0..<3 {
            // Input pixels x-1 ..< x+5 of row oy+ky-1, channels c ..< c+4.
            let row = UnsafePointer(input.base + ((oy &+ ky &- 1) &* input.rowStride &+ (x &- 1) &* ps &+ c))
            let v0 = I.load4(row)
            let v1 = I.load4(row + ps)
            let v2 = I.load4(row + 2 &* ps)
            let v3 = I.load4(row + 3 &* ps)
            let v4 = I.load4(row + 4 &* ps)
            let v5 = I.load4(row + 5 &* ps)
            let w = weights + (3 &* ky &* tapStride &+ c)
            for kx in 0..<3 {
              let wk = w + kx &* tapStride
              let w0 = loadVector4(wk)
              let w1 = loadVector4(wk + cin)
              let w2 = loadVector4(wk + 2 &* cin)
              let (p0, p1, p2, p3) =
                kx == 0 ? (v0, v1, v2, v3) : kx == 1 ? (v1, v2, v3, v4) : (v2, v3, v4, v5)
              a00 = a00.addingProduct(p0, w0)
              a01 = a01.addingProduct(p0, w1)
              a02 = a02.addingProduct(p0, w2)
              a10 = a10.addingProduct(p1, w0)
              a11 = a11.addingProduct(p1, w1)
              a12 = a12.addingProduct(p1, w2)
              a20 = a20.addingProduct(p2, w0)
              a21 = a21.addingProduct(p2, w1)
              a22 = a22.addingProduct(p2, w2)
              a30 = a30.addingProduct(p3, w0)
              a31 = a31.addingProduct(p3, w1)
              a32 = a32.addingProduct(p3, w2)
            }
          }
          c &+= 4
        }
        let d0 = output.pixel(oy, x)
        let d1 = d0 + output.pixelStride
        let d2 = d1 + output.pixelStride
        let d3 = d2 + output.pixelStride
        finish(horizontalSum4(a00), 0, d0)
        finish(horizontalSum4(a01), 1, d0)
        finish(horizontalSum4(a02), 2, d0)
        finish(horizontalSum4(a10), 0, d1)
        finish(horizontalSum4(a11), 1, d1)
        finish(horizontalSum4(a12), 2, d1)
        finish(horizontalSum4(a20), 0, d2)
        finish(horizontalSum4(a21), 1, d2)
        finish(horizontalSum4(a22), 2, d2)
        finish(horizontalSum4(a30), 0, d3)
        finish(horizontalSum4(a31), 1, d3)
        finish(horizontalSum4(a32), 2, d3)
        x &+= 4
      }
    #else
      // AVX-512 (32 zmm registers) and other targets: 4 pixels at a time, 12 accumulators.
      while x &+ 4 <= output.width {
        var a00 = SIMD16<Float>()
        var a01 = SIMD16<Float>()
        var a02 = SIMD16<Float>()
        var a10 = SIMD16<Float>()
        var a11 = SIMD16<Float>()
        var a12 = SIMD16<Float>()
        var a20 = SIMD16<Float>()
        var a21 = SIMD16<Float>()
        var a22 = SIMD16<Float>()
        var a30 = SIMD16<Float>()
        var a31 = SIMD16<Float>()
        var a32 = SIMD16<Float>()
        var block = 0
        while block < cin {
          for ky in 0..<3 {
            // Input pixels x-1 ..< x+5 of row oy+ky-1, channels block ..< block+16.
            let row = UnsafePointer(input.base + ((oy &+ ky &- 1) &* input.rowStride &+ (x &- 1) &* ps &+ block))
            let v0 = I.load16(row)
            let v1 = I.load16(row + ps)
            let v2 = I.load16(row + 2 &* ps)
            let v3 = I.load16(row + 3 &* ps)
            let v4 = I.load16(row + 4 &* ps)
            let v5 = I.load16(row + 5 &* ps)
            let w = weights + (3 &* ky &* tapStride &+ block)
            for kx in 0..<3 {
              let wk = w + kx &* tapStride
              let w0 = loadVector(wk)
              let w1 = loadVector(wk + cin)
              let w2 = loadVector(wk + 2 &* cin)
              let (p0, p1, p2, p3) =
                kx == 0 ? (v0, v1, v2, v3) : kx == 1 ? (v1, v2, v3, v4) : (v2, v3, v4, v5)
              a00 = a00.addingProduct(p0, w0)
              a01 = a01.addingProduct(p0, w1)
              a02 = a02.addingProduct(p0, w2)
              a10 = a10.addingProduct(p1, w0)
              a11 = a11.addingProduct(p1, w1)
              a12 = a12.addingProduct(p1, w2)
              a20 = a20.addingProduct(p2, w0)
              a21 = a21.addingProduct(p2, w1)
              a22 = a22.addingProduct(p2, w2)
              a30 = a30.addingProduct(p3, w0)
              a31 = a31.addingProduct(p3, w1)
              a32 = a32.addingProduct(p3, w2)
            }
          }
          block &+= 16
        }
        let d0 = output.pixel(oy, x)
        let d1 = d0 + output.pixelStride
        let d2 = d1 + output.pixelStride
        let d3 = d2 + output.pixelStride
        finish(horizontalSum(a00), 0, d0)
        finish(horizontalSum(a01), 1, d0)
        finish(horizontalSum(a02), 2, d0)
        finish(horizontalSum(a10), 0, d1)
        finish(horizontalSum(a11), 1, d1)
        finish(horizontalSum(a12), 2, d1)
        finish(horizontalSum(a20), 0, d2)
        finish(horizontalSum(a21), 1, d2)
        finish(horizontalSum(a22), 2, d2)
        finish(horizontalSum(a30), 0, d3)
        finish(horizontalSum(a31), 1, d3)
        finish(horizontalSum(a32), 2, d3)
        x &+= 4
      }
    #endif
    // The pixels the step above left (fewer than it takes), one at a time.
    while x < output.width {
      var a0 = SIMD16<Float>()
      var a1 = SIMD16<Float>()
      var a2 = SIMD16<Float>()
      var block = 0
      while block < cin {
        for tap in 0..<9 {
          let p = I.load16(
            UnsafePointer(
              input.base + ((oy &+ tap / 3 &- 1) &* input.rowStride &+ (x &+ tap % 3 &- 1) &* ps &+ block)))
          let w = weights + (tap &* tapStride &+ block)
          a0 = a0.addingProduct(p, loadVector(w))
          a1 = a1.addingProduct(p, loadVector(w + cin))
          a2 = a2.addingProduct(p, loadVector(w + 2 &* cin))
        }
        block &+= 16
      }
      let d = output.pixel(oy, x)
      finish(horizontalSum(a0), 0, d)
      finish(horizontalSum(a1), 1, d)
      finish(horizontalSum(a2), 2, d)
      x &+= 1
    }
  }
}
