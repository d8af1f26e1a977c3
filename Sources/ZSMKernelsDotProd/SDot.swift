// The one ARM instruction the kernels reach through Swift's `Builtin` module: `sdot` by element
// (ARMv8.2 dotprod). Sources/ZSMKernels imports nothing, so that it builds as Embedded Swift for
// any aarch64; this file is compiled into the ZSMKernels module only by builds that define
// ZSM_DOTPROD (`-D ZSM_DOTPROD -enable-builtin-module -Xcc -march=armv8.2-a+dotprod`), today
// Tests/ARM64/run.sh's v8.2 build. It is not a SwiftPM target of its own: `dotLane` in
// Sources/ZSMKernels/Conv/ARMReducedPrecision.swift must inline it, which a module boundary would
// prevent, and without ZSM_DOTPROD the kernels use a 16-bit fallback that computes the same
// integers. (Like ZSMKernelsInt8 on x86: LLVM cannot select the instruction for other CPUs, and
// Swift has no per-function target attributes.)
#if arch(arm64) && ZSM_DOTPROD
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
