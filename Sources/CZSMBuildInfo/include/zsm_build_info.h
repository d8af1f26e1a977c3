/* What the build targets, as data: the CPU features, the CPU flags and the git commit.
   build_info.c is compiled with the target CPU's clang flags (Package.swift, clangCPUFlags) and
   holds constants only, no code, so a baseline program (CZSMCPU's start-up check) can read
   them on any CPU. */
#ifndef ZSM_BUILD_INFO_H
#define ZSM_BUILD_INFO_H
#include <stdint.h>

/* Bit i is feature i of CPUFeatures.x86Names / arm64Names in ZSMRuntime (and of the names in
   CZSMCPU's cpu.c), for the compiler flags in effect where the macro is expanded. */
#if defined(__x86_64__)
#ifdef __AVX__
#define ZSM_F0_ (UINT64_C(1) << 0)
#else
#define ZSM_F0_ 0
#endif
#ifdef __AVX2__
#define ZSM_F1_ (UINT64_C(1) << 1)
#else
#define ZSM_F1_ 0
#endif
#ifdef __FMA__
#define ZSM_F2_ (UINT64_C(1) << 2)
#else
#define ZSM_F2_ 0
#endif
#ifdef __F16C__
#define ZSM_F3_ (UINT64_C(1) << 3)
#else
#define ZSM_F3_ 0
#endif
#ifdef __AVX512F__
#define ZSM_F4_ (UINT64_C(1) << 4)
#else
#define ZSM_F4_ 0
#endif
#ifdef __AVX512BW__
#define ZSM_F5_ (UINT64_C(1) << 5)
#else
#define ZSM_F5_ 0
#endif
#ifdef __AVX512DQ__
#define ZSM_F6_ (UINT64_C(1) << 6)
#else
#define ZSM_F6_ 0
#endif
#ifdef __AVX512VL__
#define ZSM_F7_ (UINT64_C(1) << 7)
#else
#define ZSM_F7_ 0
#endif
#ifdef __AVX512VNNI__
#define ZSM_F8_ (UINT64_C(1) << 8)
#else
#define ZSM_F8_ 0
#endif
#ifdef __AVX512BF16__
#define ZSM_F9_ (UINT64_C(1) << 9)
#else
#define ZSM_F9_ 0
#endif
#ifdef __AVX512FP16__
#define ZSM_F10_ (UINT64_C(1) << 10)
#else
#define ZSM_F10_ 0
#endif
#define ZSM_COMPILED_FEATURES \
  (ZSM_F0_ | ZSM_F1_ | ZSM_F2_ | ZSM_F3_ | ZSM_F4_ | ZSM_F5_ | ZSM_F6_ | ZSM_F7_ | ZSM_F8_ | ZSM_F9_ | ZSM_F10_)
#elif defined(__aarch64__)
#ifdef __ARM_NEON
#define ZSM_F0_ (UINT64_C(1) << 0)
#else
#define ZSM_F0_ 0
#endif
#ifdef __ARM_FEATURE_FP16_SCALAR_ARITHMETIC
#define ZSM_F1_ (UINT64_C(1) << 1)
#else
#define ZSM_F1_ 0
#endif
#ifdef __ARM_FEATURE_FP16_VECTOR_ARITHMETIC
#define ZSM_F2_ (UINT64_C(1) << 2)
#else
#define ZSM_F2_ 0
#endif
#ifdef __ARM_FEATURE_DOTPROD
#define ZSM_F3_ (UINT64_C(1) << 3)
#else
#define ZSM_F3_ 0
#endif
#define ZSM_COMPILED_FEATURES (ZSM_F0_ | ZSM_F1_ | ZSM_F2_ | ZSM_F3_)
#else
#define ZSM_COMPILED_FEATURES UINT64_C(0)
#endif

/* ZSM_COMPILED_FEATURES as build_info.c saw it: the features the build targets. */
extern const uint64_t zsm_build_target_features;
/* The CPU flags of the Swift targets ("-target-cpu native", "none (generic)", ...). */
extern const char zsm_build_flags[];
/* ZSM_GIT_COMMIT at build time, or "" when the builder did not set it. */
extern const char zsm_build_commit[];
#endif
