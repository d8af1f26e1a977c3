// The ARM instructions Swift cannot reach: ZSMKernels imports this header for `sdot` (ARMv8.2
// dotprod) and ZSMKernelsInt8 for the float-to-byte narrowing of its activation staging. Swift
// 6.2 (Debian's 6.2.3, the only Swift with an aarch64 Linux runtime here, the cross compiler of
// Tools/arm64-toolchain.sh) has no target intrinsics in its `Builtin` module and no vector
// shuffles (a lane loop of byte inserts stays scalar), but its clang importer compiles the
// `static inline` functions of an imported header to LLVM IR beside the Swift code, so LLVM
// inlines them into the Swift loops. NEON vector types import as Swift SIMD types (`int32x4_t`
// is `SIMD4<Int32>`). Empty on other architectures; `sdot` only where the importer's target has
// dot products (`-Xcc -march=...+dotprod`, Package.swift from the board's `build.march`).
#ifndef CZSMNEON_H
#define CZSMNEON_H

#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

/// 16 floats to staged int8 activation codes: `clamp(x * inverse + zeroPoint, 0, 255)` (a NaN
/// gives 0) rounded half to even, minus `offset`, narrowed. The multiply and the add round
/// separately (no fused multiply-add), as ZSMKernelsInt8's Swift `quantize` does on x86, so the
/// codes are the same on every backend.
static inline __attribute__((always_inline)) void zsm_quantize16(
    const float *source, int8_t *destination, float inverse, float zeroPoint, int32_t offset) {
  const float32x4_t scale = vdupq_n_f32(inverse), zero = vdupq_n_f32(zeroPoint);
  const float32x4_t low = vdupq_n_f32(0), high = vdupq_n_f32(255);
  const int32x4_t shift = vdupq_n_s32(offset);
  int32x4_t q[4];
  for (int i = 0; i < 4; i++) {
    float32x4_t v = vaddq_f32(vmulq_f32(vld1q_f32(source + 4 * i), scale), zero);
    v = vminnmq_f32(vmaxnmq_f32(v, low), high);  // the "nm" forms: a NaN operand gives the number
    q[i] = vsubq_s32(vcvtnq_s32_f32(v), shift);  // round to nearest, ties to even
  }
  const int16x8_t q01 = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
  const int16x8_t q23 = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
  vst1q_s8(destination, vcombine_s8(vmovn_s16(q01), vmovn_s16(q23)));
}

#if defined(__ARM_FEATURE_DOTPROD)
/// `acc[i] + sum_k w[4i+k] * x[4i+k]` for i in 0..<4: `sdot v.4s, w.16b, x.16b` (LLVM selects
/// the by-element form `x.4b[lane]` when `x` is one 32-bit lane splatted).
static inline __attribute__((always_inline)) int32x4_t zsm_sdot(int32x4_t acc, int8x16_t w, int8x16_t x) {
  return vdotq_s32(acc, w, x);
}
#endif
#endif

#endif
