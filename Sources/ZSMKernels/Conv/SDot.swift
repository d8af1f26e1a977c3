// The one ARM instruction the kernels cannot write as Swift SIMD: `sdot` (ARMv8.2 dotprod), by
// element once inlined. Compiled only by builds that define ZSM_DOTPROD: Package.swift does for
// aarch64 targets with dot products (the board's `+dotprod`, e.g. Boards/rpi5.json),
// Tests/ARM64/run.sh for its v8.2 Embedded build. Everywhere else the `#if` is empty and
// Sources/ZSMKernels imports nothing, so that it builds as Embedded Swift for any aarch64. It
// lives in this module because `dotLane` in ARMReducedPrecision.swift must inline it, which a
// module boundary would prevent; without ZSM_DOTPROD the kernels use a 16-bit fallback that
// computes the same integers.
//
// The instruction comes from C: `vdotq_s32` in a `static inline` function of
// Sources/CZSMNeon/include/CZSMNeon.h, which the clang importer compiles into this module's
// LLVM IR, so it inlines like Swift. Not `Builtin.int_aarch64_neon_sdot_*`: Swift 6.2's
// `Builtin` has no target-specific intrinsics ("no member named", whatever the type suffixes),
// and 6.2.3 is the aarch64 cross compiler (Tools/arm64-toolchain.sh).
#if arch(arm64) && ZSM_DOTPROD
  import CZSMNeon

  /// `acc[i] + sum_k w[4i+k] * x[4i+k]` for i in 0..<4: `sdot v.4s, w.16b, x.16b` (by element
  /// when `x` is one 32-bit lane splatted, as `dotLane` passes it).
  @inline(__always)
  func sdot(_ acc: SIMD4<Int32>, _ w: SIMD16<Int8>, _ x: SIMD16<Int8>) -> SIMD4<Int32> {
    zsm_sdot(acc, w, x)
  }
#endif
