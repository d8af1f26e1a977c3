// The ARM instructions Swift cannot name: ZSMKernels imports this header for `sdot` (ARMv8.2
// dotprod). Swift 6.2 (Debian's 6.2.3, the only Swift with an aarch64 Linux runtime here, the
// cross compiler of Tools/arm64-toolchain.sh) has no target intrinsics in its `Builtin` module,
// but its clang importer compiles `static inline` functions of an imported header to LLVM IR
// beside the Swift code, so LLVM inlines them and selects the instruction in the Swift loop.
// NEON vector types import as Swift SIMD types (`int32x4_t` is `SIMD4<Int32>`). Empty unless the
// importer's target has dot products (`-Xcc -march=...+dotprod`, Package.swift from the board's
// `build.march`), so x86 and ARMv8.0 builds import an empty module.
#ifndef CZSMNEON_H
#define CZSMNEON_H

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

/// `acc[i] + sum_k w[4i+k] * x[4i+k]` for i in 0..<4: `sdot v.4s, w.16b, x.16b` (LLVM selects
/// the by-element form `x.4b[lane]` when `x` is one 32-bit lane splatted).
static inline __attribute__((always_inline)) int32x4_t zsm_sdot(int32x4_t acc, int8x16_t w, int8x16_t x) {
  return vdotq_s32(acc, w, x);
}
#endif

#endif
