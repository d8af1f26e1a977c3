// The ARM instructions Swift cannot reach: ZSMKernels imports this header for its int8 products
// (`sdot` with ARMv8.2 dotprod, `smull`/`smlal`/`sadalp` without) and ZSMKernelsInt8 for the
// float-to-byte narrowing of its activation staging. Swift
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

/// The int8 products of ARMv8.0 (no dot products), 8 output channels at a time. `w01` holds
/// input channels k0, k1 of 8 output channels (byte `2o + k`), `w23` channels k2, k3; `x01` and
/// `x23` hold those input codes in every 16-bit lane. `smull` then `smlal` leave 2 products in
/// each 16-bit lane (at most 2 * 127 * 128 = 32512: the weights are within +-127), and `sadalp`
/// adds the lane pairs of one output channel to its 32-bit accumulator: 32 multiply-adds in 3
/// instructions. `zsm_mul_pairs_low` does output channels 0-3 (the low halves), `_high` 4-7.
///
/// Inline assembly, each function one unit: from the intrinsics LLVM hoisted the products of a
/// whole unrolled trip ahead of their `sadalp`s, and the 16-bit temporaries of 32 of them spilled
/// (110 q stores in the loop of the 4-pixel tile).
static inline __attribute__((always_inline)) int32x4_t zsm_mul_pairs_low(
    int32x4_t acc, int8x16_t w01, int8x16_t x01, int8x16_t w23, int8x16_t x23) {
  int16x8_t t;
  __asm__("smull %[t].8h, %[w01].8b, %[x01].8b\n\t"
          "smlal %[t].8h, %[w23].8b, %[x23].8b\n\t"
          "sadalp %[acc].4s, %[t].8h"
          : [acc] "+w"(acc), [t] "=&w"(t)
          : [w01] "w"(w01), [x01] "w"(x01), [w23] "w"(w23), [x23] "w"(x23));
  return acc;
}

static inline __attribute__((always_inline)) int32x4_t zsm_mul_pairs_high(
    int32x4_t acc, int8x16_t w01, int8x16_t x01, int8x16_t w23, int8x16_t x23) {
  int16x8_t t;
  __asm__("smull2 %[t].8h, %[w01].16b, %[x01].16b\n\t"
          "smlal2 %[t].8h, %[w23].16b, %[x23].16b\n\t"
          "sadalp %[acc].4s, %[t].8h"
          : [acc] "+w"(acc), [t] "=&w"(t)
          : [w01] "w"(w01), [x01] "w"(x01), [w23] "w"(w23), [x23] "w"(x23));
  return acc;
}

/// The even 16-bit lanes of `a` then of `b` (`uzp1 .8h`): from two 16-byte weight vectors of
/// 4 output channels x 4 input channels (byte `4o + k`), input channels k0, k1 of the 8 output
/// channels (byte `2o + k`).
static inline __attribute__((always_inline)) int8x16_t zsm_even_pairs(int8x16_t a, int8x16_t b) {
  return vreinterpretq_s8_s16(vuzp1q_s16(vreinterpretq_s16_s8(a), vreinterpretq_s16_s8(b)));
}

/// The odd 16-bit lanes (`uzp2 .8h`): input channels k2, k3 (see `zsm_even_pairs`).
static inline __attribute__((always_inline)) int8x16_t zsm_odd_pairs(int8x16_t a, int8x16_t b) {
  return vreinterpretq_s8_s16(vuzp2q_s16(vreinterpretq_s16_s8(a), vreinterpretq_s16_s8(b)));
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
