// The AVX-512 VNNI backend of the int8 convolution: `vpdpbusd` (4 u8 x s8 products added into
// each 32-bit lane), 64 output channels per block in 4 x 16 lanes. Only in builds whose target
// CPU has VNNI (Package.swift defines ZSM_VNNI): LLVM cannot compile the instruction for others.
#if arch(x86_64) && ZSM_VNNI
  import Builtin
  import ZSMKernels

  /// One accumulator vector of the micro-kernel (16 output channels).
  typealias Int8Accumulator = SIMD16<Int32>
  /// Staged activation codes: u8, 4 per 32-bit word.
  public typealias Int8Activation = UInt8
  /// Staged codes are the u8 codes themselves.
  let int8CodeOffset: Int32 = 0
  /// Packed weights: s8, 4 per 32-bit lane.
  typealias Int8Weight = Int8
  /// Which kernel runs (`zsm --version`, benchmarks).
  public let int8BackendName = "AVX-512 VNNI vpdpbusd"

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

  extension Int8Epilogue {
    /// Dequantise, add the bias, apply the activation (or add the fp32 residual), store fp32
    /// (16 channels `16 * vector ..<` of the block at `pixel`).
    @inline(__always)
    func store(_ acc: SIMD16<Int32>, pixel: Int, vector: Int, out: UnsafeMutablePointer<Float>, outPStride: Int) {
      let s = UnsafeRawPointer(scale + 16 &* vector).loadUnaligned(as: SIMD16<Float>.self)
      let b = UnsafeRawPointer(bias + 16 &* vector).loadUnaligned(as: SIMD16<Float>.self)
      var v = b.addingProduct(convertToFloat(acc), s)
      switch kind {
      case .relu: v = v.replacing(with: 0, where: v .< SIMD16<Float>())
      case .leakyRelu: v = v.replacing(with: v * leakySlope, where: v .< SIMD16<Float>())
      case .residual:
        v += UnsafeRawPointer(residual + (pixel &* residualPStride &+ 16 &* vector)).loadUnaligned(
          as: SIMD16<Float>.self)
      case .none: break
      }
      UnsafeMutableRawPointer(out + (pixel &* outPStride &+ 16 &* vector)).storeBytes(of: v, as: SIMD16<Float>.self)
    }
  }
#endif
