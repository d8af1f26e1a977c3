// The AVX2 backend of the int8 convolution, for x86 builds without AVX-512 VNNI (x86-64-v3):
// `vpmaddwd` on 16-bit operands (2 products added into each 32-bit lane) and `vpaddd`, 16 output
// channels per block in 2 x 8 lanes.
//
// Why 16-bit operands and not `vpmaddubsw` (u8 x s8, 4 products per lane through a 16-bit pair
// sum): that pair sum saturates at 32767, and two u8 activations of 255 against s8 weights of
// 127 reach 64770. The exact alternatives cost as much as this one (7-bit weights lose 6 dB of
// weight resolution; `vpsignb` on s8 activations adds a uop per product), so the activation
// codes are staged as u16 and the weights packed as s16: every product and sum is exact, and the
// integers are the ones VNNI computes, bit for bit (same calibration, same weights' rounding).
#if arch(x86_64) && !ZSM_VNNI
  import Builtin
  import ZSMKernels

  /// One accumulator vector of the micro-kernel (8 output channels).
  typealias Int8Accumulator = SIMD8<Int32>
  /// Staged activation codes: the u8 codes zero-extended to 16 bits, 2 per 32-bit word.
  public typealias Int8Activation = UInt16
  /// Staged codes are the u8 codes themselves.
  let int8CodeOffset: Int32 = 0
  /// Packed weights: the s8 values sign-extended to 16 bits, 2 per 32-bit lane.
  typealias Int8Weight = Int16
  /// Which kernel runs (`zsm --version`, benchmarks).
  public let int8BackendName = "AVX2 vpmaddwd"

  /// `acc + (a.lo16 * b.lo16 + a.hi16 * b.hi16)` per 32-bit lane (`vpmaddwd`, `vpaddd`).
  @inline(__always)
  func dotAccumulate(_ acc: SIMD8<Int32>, _ a: SIMD8<Int32>, _ b: SIMD8<Int32>) -> SIMD8<Int32> {
    let a16 = unsafeBitCast(a, to: SIMD16<Int16>.self)
    let b16 = unsafeBitCast(b, to: SIMD16<Int16>.self)
    var o = SIMD8<Int32>()
    o._storage._value = Builtin.int_x86_avx2_pmadd_wd(a16._storage._value, b16._storage._value)
    return acc &+ o
  }

  @inline(__always)
  func loadInt32s(_ p: UnsafePointer<Int32>) -> SIMD8<Int32> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Int32>.self)
  }

  /// Int32 -> Float in one instruction (the generic initialiser is a library call).
  @inline(__always)
  func convertToFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    var f = SIMD8<Float>()
    f._storage._value = Builtin.sitofp_Vec8xInt32_Vec8xFPIEEE32(v._storage._value)
    return f
  }

  extension Int8Epilogue {
    /// Dequantise, add the bias, apply the activation (or add the fp32 residual), store fp32
    /// (8 channels `8 * vector ..<` of the block at `pixel`).
    @inline(__always)
    func store(_ acc: SIMD8<Int32>, pixel: Int, vector: Int, out: UnsafeMutablePointer<Float>, outPStride: Int) {
      let s = UnsafeRawPointer(scale + 8 &* vector).loadUnaligned(as: SIMD8<Float>.self)
      let b = UnsafeRawPointer(bias + 8 &* vector).loadUnaligned(as: SIMD8<Float>.self)
      var v = b.addingProduct(convertToFloat(acc), s)
      switch kind {
      case .relu: v = v.replacing(with: 0, where: v .< SIMD8<Float>())
      case .leakyRelu: v = v.replacing(with: v * leakySlope, where: v .< SIMD8<Float>())
      case .residual:
        v += UnsafeRawPointer(residual + (pixel &* residualPStride &+ 8 &* vector)).loadUnaligned(
          as: SIMD8<Float>.self)
      case .none: break
      }
      UnsafeMutableRawPointer(out + (pixel &* outPStride &+ 8 &* vector)).storeBytes(of: v, as: SIMD8<Float>.self)
    }
  }
#endif
