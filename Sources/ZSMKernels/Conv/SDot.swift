// The one ARM instruction the kernels reach through Swift's `Builtin` module: `sdot` by element
// (ARMv8.2 dotprod). Compiled only by builds that define ZSM_DOTPROD: Package.swift does for
// aarch64 targets with dot products (the board's `+dotprod`, e.g. Boards/rpi5.json, with
// `-enable-builtin-module` for this module), Tests/ARM64/run.sh for its v8.2 Embedded build.
// Everywhere else the `#if` is empty and Sources/ZSMKernels imports nothing, so that it builds
// as Embedded Swift for any aarch64. It lives in this module because `dotLane` in
// ARMReducedPrecision.swift must inline it, which a module boundary would prevent; without
// ZSM_DOTPROD the kernels use a 16-bit fallback that computes the same integers. (Like
// ZSMKernelsInt8 on x86: LLVM cannot select the instruction for other CPUs, and Swift has no
// per-function target attributes.)
//
// Swift 6.3 or later only: Swift 6.2's `Builtin` module has no target-specific LLVM intrinsics
// (with Debian's 6.2.3, the aarch64 cross compiler of Tools/arm64-toolchain.sh, every
// `Builtin.int_aarch64_neon_*` is "no member named", whatever the type suffixes; generic ones such
// as `int_fma_Vec4xFPIEEE32` work), so a 6.2 build keeps the 16-bit path even with ZSM_DOTPROD.
#if arch(arm64) && ZSM_DOTPROD && compiler(>=6.3)
  import Builtin

  /// `acc[i] + sum_k w[4i+k] * x[k]` for i in 0..<4, with the 4 bytes of `x` repeated in every
  /// 32-bit lane: `sdot v.4s, w.16b, x.16b`.
  @inline(__always)
  func sdot(_ acc: SIMD4<Int32>, _ w: SIMD16<Int8>, _ x: SIMD16<Int8>) -> SIMD4<Int32> {
    var r = acc
    r._storage._value = Builtin.int_aarch64_neon_sdot_Vec4xInt32_Vec16xInt8(
      acc._storage._value, w._storage._value, x._storage._value)
    return r
  }
#endif
