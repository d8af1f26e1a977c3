/* CPU features: which ones the code importing this header was compiled for, and the running
   CPU's aarch64 HWCAP. Header-only: the inline functions are compiled inside the Swift module
   that imports them (ZSMRuntime), with that module's -target-cpu / -Xcc -march flags, so
   zsm_compiled_features() reports exactly the instruction set the Swift code may use. */
#ifndef ZSM_CPU_H
#define ZSM_CPU_H
#include <stdint.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

/* Bit i is feature i of CPUFeatures.x86Names / arm64Names in ZSMRuntime. */
static inline uint64_t zsm_compiled_features(void) {
  uint64_t f = 0;
#if defined(__x86_64__)
#ifdef __AVX__
  f |= 1u << 0;
#endif
#ifdef __AVX2__
  f |= 1u << 1;
#endif
#ifdef __FMA__
  f |= 1u << 2;
#endif
#ifdef __F16C__
  f |= 1u << 3;
#endif
#ifdef __AVX512F__
  f |= 1u << 4;
#endif
#ifdef __AVX512BW__
  f |= 1u << 5;
#endif
#ifdef __AVX512DQ__
  f |= 1u << 6;
#endif
#ifdef __AVX512VL__
  f |= 1u << 7;
#endif
#ifdef __AVX512VNNI__
  f |= 1u << 8;
#endif
#ifdef __AVX512BF16__
  f |= 1u << 9;
#endif
#ifdef __AVX512FP16__
  f |= 1u << 10;
#endif
#elif defined(__aarch64__)
#ifdef __ARM_NEON
  f |= 1u << 0;
#endif
#ifdef __ARM_FEATURE_FP16_SCALAR_ARITHMETIC
  f |= 1u << 1;
#endif
#ifdef __ARM_FEATURE_FP16_VECTOR_ARITHMETIC
  f |= 1u << 2;
#endif
#ifdef __ARM_FEATURE_DOTPROD
  f |= 1u << 3;
#endif
#endif
  return f;
}

/* getauxval(AT_HWCAP) on aarch64 Linux, 0 elsewhere. */
static inline uint64_t zsm_hwcap(void) {
#if defined(__aarch64__) && defined(__linux__)
  return (uint64_t)getauxval(AT_HWCAP);
#else
  return 0;
#endif
}
#endif
