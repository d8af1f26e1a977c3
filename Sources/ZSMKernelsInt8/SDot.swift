// The int8 products the kernels cannot write as Swift SIMD, from C: with ARMv8.2 dot products
// `sdot` (by element once inlined), defined ZSM_DOTPROD (Package.swift does for aarch64 targets
// with dot products, the board's `+dotprod`, e.g. Boards/rpi5.json; Tests/ARM64/run.sh for its
// v8.2 Embedded build); without them (ARMv8.0, e.g. Boards/rpi4.json) the widening multiplies
// `smull`/`smlal` and the pairwise accumulate `sadalp`, which compute the same integers. On
// other architectures the `#if` is empty. They live in the module of `conv3x3Int8Dot`
// (ARMDot.swift), which must inline them.
//
// The instructions come from `static inline` functions of Sources/CZSMNeon/include/CZSMNeon.h,
// which the clang importer compiles into this module's LLVM IR, so they inline like Swift. Not
// `Builtin.int_aarch64_neon_*`: Swift 6.2's `Builtin` has no target-specific intrinsics ("no
// member named", whatever the type suffixes), and 6.2.3 is the aarch64 cross compiler
// (Tools/arm64-toolchain.sh). Swift alone does not get there either: a 16-bit lane formulation
// compiled to shifts and 16-bit multiplies, about 10 instructions per 16 multiply-adds.
#if arch(arm64)
  import CZSMNeon

  #if ZSM_DOTPROD
    /// `acc[i] + sum_k w[4i+k] * x[4i+k]` for i in 0..<4: `sdot v.4s, w.16b, x.16b` (by element
    /// when `x` is one 32-bit lane splatted, as `dotLane` passes it).
    @inline(__always)
    func sdot(_ acc: SIMD4<Int32>, _ w: SIMD16<Int8>, _ x: SIMD16<Int8>) -> SIMD4<Int32> {
      zsm_sdot(acc, w, x)
    }
  #else
    /// `acc[o] + sum_k w01[2o+k] * x01[2o+k] + w23[2o+k] * x23[2o+k]` for output channels
    /// o in 0..<4, from the low 8 bytes (`smull`, `smlal`, `sadalp`).
    @inline(__always)
    func mulPairsLow(
      _ acc: SIMD4<Int32>, _ w01: SIMD16<Int8>, _ x01: SIMD16<Int8>, _ w23: SIMD16<Int8>, _ x23: SIMD16<Int8>
    ) -> SIMD4<Int32> {
      zsm_mul_pairs_low(acc, w01, x01, w23, x23)
    }

    /// The same for output channels 4..<8, from the high 8 bytes (`smull2`, `smlal2`, `sadalp`).
    @inline(__always)
    func mulPairsHigh(
      _ acc: SIMD4<Int32>, _ w01: SIMD16<Int8>, _ x01: SIMD16<Int8>, _ w23: SIMD16<Int8>, _ x23: SIMD16<Int8>
    ) -> SIMD4<Int32> {
      zsm_mul_pairs_high(acc, w01, x01, w23, x23)
    }

    /// Input channels k0, k1 (`even`) and k2, k3 (`odd`) of the 8 output channels of two weight
    /// vectors of 4 output x 4 input channels (`uzp1`, `uzp2 .8h`).
    @inline(__always)
    func pairWeights(_ a: SIMD16<Int8>, _ b: SIMD16<Int8>) -> (even: SIMD16<Int8>, odd: SIMD16<Int8>) {
      (zsm_even_pairs(a, b), zsm_odd_pairs(a, b))
    }
  #endif
#endif
