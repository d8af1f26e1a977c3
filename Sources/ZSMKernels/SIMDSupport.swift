// Small SIMD helpers. Each one was chosen because it compiles to single instructions; the
// stdlib's generic conversions, `clamped`, `pointwiseMin/Max` become calls or stack traffic
// (see the project README, "Kernel rules"). Lane comparisons take a vector on both sides
// (`v .< SIMD16<Float>()`, not `v .< 0`): Swift 6.2.3, the aarch64 compiler, builds the mask of a
// vector-scalar `SIMD16<Float>` comparison one lane at a time through the stack (about 12
// instructions a lane; one `fcmgt` per 4 lanes for vector-vector), and .ci/run rejects the form.

@inline(__always)
func loadVector(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func loadVector(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func loadVector8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// 4 floats (one NEON q register). Public for ZSMKernelsInt8's aarch64 int8 epilogue.
@inlinable @inline(__always)
public func loadVector4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
}

@inline(__always)
func storeVector(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

@inline(__always)
func storeVector8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Slope of the network's LeakyReLU.
public let leakySlope: Float = 0.1

@inline(__always)
func leakyRelu(_ v: SIMD16<Float>) -> SIMD16<Float> {
  v.replacing(with: v * leakySlope, where: v .< SIMD16<Float>())
}

@inline(__always)
func relu(_ v: SIMD16<Float>) -> SIMD16<Float> {
  v.replacing(with: 0, where: v .< SIMD16<Float>())
}

@inline(__always)
func leakyRelu(_ v: Float) -> Float { v < 0 ? v * leakySlope : v }

/// Round-to-nearest Float -> Int32 for |f| < 2^22 without a conversion instruction that traps:
/// adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits.
@inline(__always)
func roundToInt32(_ f: SIMD16<Float>) -> SIMD16<Int32> {
  let shifted = f + SIMD16<Float>(repeating: 12_582_912)
  return unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B40_0000)
}

/// The even and the odd elements of `a` then `b` (one vpermt2ps each; SIMD32's evenHalf and
/// oddHalf are calls).
@inline(__always)
func deinterleave(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> (even: SIMD16<Float>, odd: SIMD16<Float>) {
  let even = SIMD16<Float>(
    a[0], a[2], a[4], a[6], a[8], a[10], a[12], a[14], b[0], b[2], b[4], b[6], b[8], b[10], b[12], b[14])
  let odd = SIMD16<Float>(
    a[1], a[3], a[5], a[7], a[9], a[11], a[13], a[15], b[1], b[3], b[5], b[7], b[9], b[11], b[13], b[15])
  return (even, odd)
}

/// Int32 -> Float, lane by lane (compiles to one vcvtdq2ps; the generic init is a call).
@inline(__always)
func toFloat(_ v: SIMD16<Int32>) -> SIMD16<Float> {
  var r = SIMD16<Float>()
  for i in 0..<16 { r[i] = Float(v[i]) }
  return r
}

// MARK: - exp, sigmoid, tanh

/// e^x for a vector, accurate to about 2 ulp on [-87, 88] (Cody-Waite reduction and a
/// degree-6 polynomial, as Cephes `expf`). Inputs are clamped to that range.
@inline(__always)
func vectorExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
  let high = SIMD16<Float>(repeating: 88)
  let low = SIMD16<Float>(repeating: -87)
  var v = x.replacing(with: high, where: x .> high)
  v = v.replacing(with: low, where: v .< low)
  // n = round(v / ln 2) by the 1.5 * 2^23 addition (as roundToInt32), which leaves the
  // integer in the low mantissa bits too: `rounded(.toNearestOrEven)` compiled to four
  // 128-bit vroundps here, and the whole function then ran on xmm quarters.
  let magic = SIMD16<Float>(repeating: 12_582_912)
  let shifted = v * 1.442_695_04 + magic
  let n = shifted - magic
  var r = v.addingProduct(n, SIMD16<Float>(repeating: -0.693_359_375))
  r = r.addingProduct(n, SIMD16<Float>(repeating: 2.121_944_4e-4))
  var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
  p = SIMD16<Float>(repeating: 1.398_199_950_7e-3).addingProduct(p, r)
  p = SIMD16<Float>(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
  p = SIMD16<Float>(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
  p = SIMD16<Float>(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
  p = SIMD16<Float>(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
  let r2 = r * r
  let y = (r + 1).addingProduct(p, r2)
  // 2^n: build the exponent bits directly.
  let bits = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B40_0000 - 127)) &<< 23
  return y * unsafeBitCast(bits, to: SIMD16<Float>.self)
}

/// Logistic sigmoid 1 / (1 + e^-x).
///
/// The optimiser keeps this (and `vectorTanh`) a function despite `@inline(__always)`; on x86
/// its SIMD16 argument and result then travel in four xmm registers and LLVM computes the body
/// on 128-bit quarters. A hot loop that needs it at full width calls `vectorExp` itself (as the
/// deformable sampler does).
@inline(__always)
func vectorSigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> {
  1 / (1 + vectorExp(-x))
}

/// Hyperbolic tangent: an odd polynomial below |x| = 0.625 (Cephes `tanhf`), else
/// 1 - 2 / (e^(2|x|) + 1) with the sign restored. Relative error about 1e-7.
@inline(__always)
func vectorTanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
  let negative = x .< SIMD16<Float>()
  let ax = x.replacing(with: -x, where: negative)
  let z = x * x
  var p = SIMD16<Float>(repeating: -5.704_988_727_45e-3)
  p = SIMD16<Float>(repeating: 2.063_908_879_54e-2).addingProduct(p, z)
  p = SIMD16<Float>(repeating: -5.373_971_555_31e-2).addingProduct(p, z)
  p = SIMD16<Float>(repeating: 1.333_144_220_36e-1).addingProduct(p, z)
  p = SIMD16<Float>(repeating: -3.333_328_194_22e-1).addingProduct(p, z)
  let small = x.addingProduct(p * z, x)
  let large = 1 - 2 / (vectorExp(ax + ax) + 1)
  let signedLarge = large.replacing(with: -large, where: negative)
  return signedLarge.replacing(with: small, where: ax .< SIMD16<Float>(repeating: 0.625))
}
