/// A pure FMA-throughput loop: independent 16-lane accumulators (enough to cover FMA latency
/// on two pipes), `iterations` x `fmaPeakAccumulators` x 16 x 2 flops. The machine's
/// attainable fp32 peak is measured with it in the same run as the kernels.
///
/// With AVX-512 (`ZSM_AVX512`) 24 accumulators, one zmm register each. Every other target holds
/// a SIMD16<Float> in 2 (AVX2) or 4 (NEON) registers, so it runs 6: 12 ymm or 24 q registers
/// (24 spilled on every iteration and under-measured the peak). Six are still 12 (or 24)
/// independent chains, more than the 8 that 2 pipes of 4-cycle FMAs need.
@inline(never)
public func fmaPeakLoop(iterations: Int, seed: Float) -> Float {
  let a = SIMD16<Float>(repeating: seed)
  let b = SIMD16<Float>(repeating: 1e-7)
  var c0 = SIMD16<Float>(repeating: 0), c1 = SIMD16<Float>(repeating: 1), c2 = SIMD16<Float>(repeating: 2)
  var c3 = SIMD16<Float>(repeating: 3), c4 = SIMD16<Float>(repeating: 4), c5 = SIMD16<Float>(repeating: 5)
  #if ZSM_AVX512
    var c6 = SIMD16<Float>(repeating: 6), c7 = SIMD16<Float>(repeating: 7), c8 = SIMD16<Float>(repeating: 8)
    var c9 = SIMD16<Float>(repeating: 9), c10 = SIMD16<Float>(repeating: 10), c11 = SIMD16<Float>(repeating: 11)
    var c12 = SIMD16<Float>(repeating: 12), c13 = SIMD16<Float>(repeating: 13), c14 = SIMD16<Float>(repeating: 14)
    var c15 = SIMD16<Float>(repeating: 15), c16 = SIMD16<Float>(repeating: 16), c17 = SIMD16<Float>(repeating: 17)
    var c18 = SIMD16<Float>(repeating: 18), c19 = SIMD16<Float>(repeating: 19), c20 = SIMD16<Float>(repeating: 20)
    var c21 = SIMD16<Float>(repeating: 21), c22 = SIMD16<Float>(repeating: 22), c23 = SIMD16<Float>(repeating: 23)
  #endif
  for _ in 0..<iterations {
    c0 = c0.addingProduct(a, b); c1 = c1.addingProduct(a, b); c2 = c2.addingProduct(a, b)
    c3 = c3.addingProduct(a, b); c4 = c4.addingProduct(a, b); c5 = c5.addingProduct(a, b)
    #if ZSM_AVX512
      c6 = c6.addingProduct(a, b); c7 = c7.addingProduct(a, b); c8 = c8.addingProduct(a, b)
      c9 = c9.addingProduct(a, b); c10 = c10.addingProduct(a, b); c11 = c11.addingProduct(a, b)
      c12 = c12.addingProduct(a, b); c13 = c13.addingProduct(a, b); c14 = c14.addingProduct(a, b)
      c15 = c15.addingProduct(a, b); c16 = c16.addingProduct(a, b); c17 = c17.addingProduct(a, b)
      c18 = c18.addingProduct(a, b); c19 = c19.addingProduct(a, b); c20 = c20.addingProduct(a, b)
      c21 = c21.addingProduct(a, b); c22 = c22.addingProduct(a, b); c23 = c23.addingProduct(a, b)
    #endif
  }
  let s0 = c0 + c1 + c2 + c3 + c4 + c5
  #if ZSM_AVX512
    let s1 = c6 + c7 + c8 + c9 + c10 + c11 + c12 + c13 + c14 + c15
    let s2 = c16 + c17 + c18 + c19 + c20 + c21 + c22 + c23
    return (s0 + s1 + s2).sum()
  #else
    return s0.sum()
  #endif
}

/// Accumulators (16 lanes each) of `fmaPeakLoop`.
#if ZSM_AVX512
  public let fmaPeakAccumulators = 24
#else
  public let fmaPeakAccumulators = 6
#endif

/// Flops one `fmaPeakLoop` iteration performs.
public let fmaPeakFlopsPerIteration = fmaPeakAccumulators * 16 * 2
